"""Neutral parameter in, expected native object out: one table per backend."""

import json

import pytest

from backends.keras_tuner_space import KerasTunerForm, to_keras_tuner
from backends.optuna_space import optuna_distributions, to_optuna_distribution
from backends.translation import TranslationError
from search_space import BoolParam, CategoricalParam, FixedParam, FloatParam, IntParam, load_space, shipped_spaces


def _optuna_table():
    from optuna.distributions import CategoricalDistribution as C
    from optuna.distributions import FloatDistribution as F
    from optuna.distributions import IntDistribution as I

    return [
        (IntParam(name="f", low=32, high=64, step=8), I(32, 64, step=8)),
        (IntParam(name="u", low=1, high=1024, log=True), I(1, 1024, log=True)),
        (FloatParam(name="d", low=0.1, high=0.5, step=0.1), F(0.1, 0.5, step=0.1)),
        (FloatParam(name="lr", low=1e-4, high=1e-3, log=True), F(1e-4, 1e-3, log=True)),
        (FloatParam(name="m", low=0.0, high=1.0), F(0.0, 1.0)),
        (CategoricalParam(name="dense", choices=[128, 256, 512]), C((128, 256, 512))),
        (CategoricalParam(name="mix", choices=[None, 1, "a", 2.5, True]), C((None, 1, "a", 2.5, True))),
        (BoolParam(name="bn"), C((False, True))),
        (FixedParam(name="act", value="relu"), C(("relu",))),
    ]


@pytest.mark.parametrize(("param", "expected"), _optuna_table(), ids=lambda x: getattr(x, "name", ""))
def test_optuna_translation_table(param, expected):
    assert to_optuna_distribution(param) == expected


@pytest.mark.parametrize(
    ("param", "expected"),
    [
        (IntParam(name="f", low=32, high=64, step=8), KerasTunerForm("Int", {"min_value": 32, "max_value": 64, "step": 8})),
        (IntParam(name="u", low=1, high=1024, log=True), KerasTunerForm("Int", {"min_value": 1, "max_value": 1024, "sampling": "log"})),
        (FloatParam(name="d", low=0.1, high=0.5, step=0.1), KerasTunerForm("Float", {"min_value": 0.1, "max_value": 0.5, "step": 0.1})),
        (FloatParam(name="lr", low=1e-4, high=1e-3, log=True), KerasTunerForm("Float", {"min_value": 1e-4, "max_value": 1e-3, "sampling": "log"})),
        (CategoricalParam(name="dense", choices=[128, 256, 512]), KerasTunerForm("Choice", {"values": [128, 256, 512]})),
        (CategoricalParam(name="opt", choices=["adam", "sgd"]), KerasTunerForm("Choice", {"values": ["adam", "sgd"]})),
        (
            CategoricalParam(name="mix", choices=[None, 1, "a"]),
            KerasTunerForm("Choice", {"values": ["null", "1", '"a"'], "ordered": False}, labels=(None, 1, "a")),
        ),
        (BoolParam(name="bn"), KerasTunerForm("Boolean", {})),
        (CategoricalParam(name="flag", choices=[True, False]), KerasTunerForm("Boolean", {})),
        (CategoricalParam(name="only", choices=[False]), KerasTunerForm("Choice", {"values": ["false"], "ordered": False}, labels=(False,))),
        (FixedParam(name="act", value="relu"), KerasTunerForm("Fixed", {"value": "relu"})),
        (FixedParam(name="none", value=None), KerasTunerForm("Fixed", {"value": "null"}, labels=(None,))),
    ],
    ids=lambda x: getattr(x, "name", ""),
)
def test_keras_tuner_translation_table(param, expected):
    form = to_keras_tuner(param)
    assert (form.method, form.kwargs, form.labels) == (expected.method, expected.kwargs, expected.labels)


@pytest.mark.parametrize("translate", [to_optuna_distribution, to_keras_tuner], ids=["optuna", "keras-tuner"])
@pytest.mark.parametrize(
    "param",
    [IntParam(name="units", low=2, high=32, step=2, log=True), FloatParam(name="lr", low=0.1, high=0.5, step=0.1, log=True)],
    ids=["int", "float"],
)
def test_step_with_log_is_refused_naming_backend_and_parameter(translate, param):
    with pytest.raises(TranslationError) as info:
        translate(param)
    message = str(info.value)
    assert info.value.param == param.name and f"'{param.name}'" in message
    assert message.startswith(("optuna:", "keras-tuner:")) and "step" in message and "log" in message


def test_labelled_choices_decode_to_the_original_values():
    form = to_keras_tuner(CategoricalParam(name="mix", choices=[None, 1, "a", 2.5, True]))
    assert [form.decode(form.encode(v)) for v in (None, 1, "a", 2.5, True)] == [None, 1, "a", 2.5, True]
    assert type(form.decode(form.encode(True))) is bool


@pytest.mark.parametrize("name", sorted(shipped_spaces()))
def test_both_backends_count_the_same_values_for_shipped_spaces(name):
    from backends.keras_tuner_space import native_form as kt_form
    from backends.optuna_space import native_form as optuna_form

    space = load_space(shipped_spaces()[name])
    assert set(optuna_distributions(space)) == set(space.names)
    for param in space:
        assert optuna_form(param).size == kt_form(param).size == param.size(), param.name


def test_keras_tuner_choice_really_turns_bools_into_ints():
    """Why bool choices never go to hp.Choice: KerasTuner 1.4 standardises them to int."""
    import keras_tuner as kt

    hp = kt.HyperParameters()
    assert type(hp.Choice("x", [False])) is int


RAY_TABLE = [  # neutral parameter -> (tune function, its arguments, distinct values)
    (IntParam(name="units", low=8, high=64), ("randint", (8, 65), 57)),  # Ray's upper bound is exclusive
    (IntParam(name="u", low=1, high=1024, log=True), ("lograndint", (1, 1025), 1024)),
    (IntParam(name="k", low=3, high=7, step=2), ("choice", (3, 5, 7), 3)),  # q-rounding would give 2, 4, 6, 8
    (FloatParam(name="d", low=0.1, high=0.5, step=0.1), ("choice", (0.1, 0.2, 0.3, 0.4, 0.5), 5)),
    (FloatParam(name="lr", low=1e-4, high=1e-3, log=True), ("loguniform", (1e-4, 1e-3), None)),
    (FloatParam(name="m", low=0.0, high=1.0), ("uniform", (0.0, 1.0), None)),
    (CategoricalParam(name="mix", choices=[None, 1, "a", 2.5, True]), ("choice", (None, 1, "a", 2.5, True), 5)),
    (BoolParam(name="bn"), ("choice", (False, True), 2)),
    (FixedParam(name="act", value="relu"), ("constant", ("relu",), 1)),
]


@pytest.mark.parametrize(("param", "expected"), RAY_TABLE, ids=[p.name for p, _ in RAY_TABLE])
def test_ray_tune_translation_table(param, expected):
    from backends.ray_tune_space import to_ray_form

    form = to_ray_form(param)
    assert (form.function, form.args, form.size) == expected


@pytest.mark.parametrize(("param", "expected"), RAY_TABLE, ids=[p.name for p, _ in RAY_TABLE])
def test_ray_tune_domains_draw_only_the_parameters_values(param, expected):
    """Ray's own sampler, asked 300 times, stays inside the neutral domain and (for a small one) reaches all of it."""
    pytest.importorskip("ray")
    from ray.tune.search.sample import Domain

    from backends.ray_tune_space import to_ray_form

    domain = to_ray_form(param).domain()
    if not isinstance(domain, Domain):  # a constant
        assert domain == param.value
        return
    drawn = [param.canonical(v) for v in domain.sample(size=300, random_state=0)]
    assert all(param.contains(v) for v in drawn), [v for v in drawn if not param.contains(v)][:5]
    if param.size() is not None and param.size() <= 10:
        assert {json.dumps(v) for v in drawn} == {json.dumps(v) for v in param.grid()}


def test_ray_tune_grid_lists_every_value_and_refuses_a_continuous_one():
    from backends.ray_tune_space import to_grid_form

    assert (to_grid_form(IntParam(name="k", low=3, high=7, step=2)).function, to_grid_form(IntParam(name="k", low=3, high=7, step=2)).args) == (
        "grid_search", (3, 5, 7))
    with pytest.raises(TranslationError, match="ray-tune: cannot express parameter 'm'"):
        to_grid_form(FloatParam(name="m", low=0.0, high=1.0))


@pytest.mark.parametrize("name", sorted(shipped_spaces()))
def test_ray_tune_counts_the_same_values_as_the_space_for_shipped_spaces(name):
    from backends.ray_tune_space import native_form as ray_form

    for param in load_space(shipped_spaces()[name]):
        assert ray_form(param).size == param.size(), param.name
