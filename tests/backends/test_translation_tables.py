"""Neutral parameter in, expected native object out: one table per backend."""

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
