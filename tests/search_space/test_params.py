"""Each parameter type validates itself; every broken rule names the parameter and the rule."""

import pytest

from search_space import BoolParam, CategoricalParam, Condition, FixedParam, FloatParam, IntParam, SpaceError


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: IntParam(name="units", low=5, high=3), r"parameter 'units': `low <= high` must hold, but got \(low=5, high=3\)"),
        (lambda: FloatParam(name="lr", low=1.0, high=0.5), r"parameter 'lr': `low <= high` must hold"),
        (lambda: IntParam(name="units", low=0, high=8, log=True), r"parameter 'units': log scale needs `low > 0`, but got low=0"),
        (lambda: FloatParam(name="lr", low=-1.0, high=1.0, log=True), r"parameter 'lr': log scale needs `low > 0`"),
        (lambda: IntParam(name="filters", low=32, high=64, step=10), r"parameter 'filters': step 10 does not fit the range"),
        (lambda: FloatParam(name="dropout", low=0.1, high=0.5, step=0.15), r"parameter 'dropout': step 0.15 does not fit the range"),
        (lambda: FloatParam(name="dropout", low=0.1, high=0.5, step=0.0), r"parameter 'dropout': `step > 0` must hold"),
        (lambda: IntParam(name="k", low=1, high=5, step=0), r"parameter 'k': `step >= 1` must hold"),
        (lambda: IntParam(name="k", low=1.5, high=5), r"parameter 'k': `low` must be an integer"),
        (lambda: IntParam(name="k", low=True, high=5), r"parameter 'k': `low` must be an integer"),
        (lambda: FloatParam(name="x", low=0.0, high=float("inf")), r"parameter 'x': `high` must be a finite number"),
        (lambda: CategoricalParam(name="dense", choices=[]), r"parameter 'dense': `choices` must not be empty"),
        (lambda: CategoricalParam(name="dense", choices=[128, 256, 128]), r"parameter 'dense': duplicate choice 128"),
        (lambda: CategoricalParam(name="opt", choices=[[1, 2]]), r"parameter 'opt': choices must be null, bool, int, float or str"),
        (lambda: FixedParam(name="c", value={"a": 1}), r"parameter 'c': fixed `value` must be"),
        (lambda: IntParam(name="2bad", low=1, high=2), r"parameter '2bad': name must start with a letter"),
        (lambda: Condition(parent="p", values=()), r"condition on 'p': `in` must list at least one value"),
    ],
)
def test_bad_parameter_is_refused_with_a_message_naming_it(build, message):
    with pytest.raises(SpaceError, match=message):
        build()


def test_true_and_one_are_different_choices():
    param = CategoricalParam(name="x", choices=[1, True, 1.0, "1", None])
    assert param.size() == 5
    assert param.contains(True) and param.contains(1) and param.contains(None)
    assert not param.contains(2) and not param.contains(False)


@pytest.mark.parametrize(
    ("param", "grid"),
    [
        (IntParam(name="a", low=32, high=64, step=8), (32, 40, 48, 56, 64)),
        (FloatParam(name="d", low=0.1, high=0.5, step=0.1), (0.1, 0.2, 0.3, 0.4, 0.5)),
        (FloatParam(name="d", low=0.0, high=0.3, step=0.1), (0.0, 0.1, 0.2, 0.3)),
        (FloatParam(name="lr", low=1e-4, high=1e-3, log=True), None),
        (BoolParam(name="b"), (False, True)),
        (FixedParam(name="f", value="relu"), ("relu",)),
    ],
)
def test_grid_lists_every_value_in_order(param, grid):
    assert param.grid() == grid
    assert param.size() == (None if grid is None else len(grid))
    for value in grid or ():
        assert param.contains(value)


def test_float_canonical_snaps_sampling_noise_onto_the_grid():
    param = FloatParam(name="d", low=0.1, high=0.5, step=0.1)
    assert param.canonical(0.30000000000000004) == 0.3
    assert param.contains(0.30000000000000004)
    assert not param.contains(0.35)
    assert not param.contains(0.6)


def test_int_contains_checks_bounds_and_step():
    param = IntParam(name="f", low=32, high=64, step=8)
    assert param.contains(40) and not param.contains(42) and not param.contains(72) and not param.contains(40.0)
