"""`bench list`'s capability table says what Optuna itself does: checked by running each sampler directly."""

from __future__ import annotations

import pytest

from backends.optuna_backend import RANDOM_FALLBACK, OptunaBackend
from backends.optuna_samplers import make_sampler
from search_space import CategoricalParam, FloatParam, SearchSpace
from search_space.params import Condition
from tests.helpers import bench, require_package

SPACE = SearchSpace(name="caps", params=(
    FloatParam(name="x", low=0.0, high=1.0),
    CategoricalParam(name="kind", choices=("a", "b")),
    FloatParam(name="child", low=0.0, high=1.0, when=Condition("kind", ("a",))),
))
GRID_SPACE = SearchSpace(name="caps_grid", params=(
    CategoricalParam(name="x", choices=(0.1, 0.5)), CategoricalParam(name="kind", choices=("a", "b")),
))


def _require(algorithm: str) -> None:
    if algorithm == "gp":
        require_package("torch", "GPSampler needs it; .ci/run installs it")


def _objective(trial, directions: int, grid: bool = False, indifferent: bool = False):
    """x, a categorical, and a child that exists only for kind 'a' (the grid's space has no continuous or child parameter);
    `indifferent`: only x counts, so that a sampler keeps drawing both branches."""
    x = trial.suggest_categorical("x", [0.1, 0.5]) if grid else trial.suggest_float("x", 0.0, 1.0)
    kind = trial.suggest_categorical("kind", ["a", "b"])
    child = trial.suggest_float("child", 0.0, 1.0) if kind == "a" and not grid else 0.0
    if indifferent:
        return (x - 0.3) ** 2
    return (x + child, -x) if directions > 1 else x + child


@pytest.mark.parametrize("algorithm", list(OptunaBackend.algorithms))
def test_multi_objective_column_is_what_optuna_does(algorithm: str) -> None:
    """A sampler marked 'no' raises on a two-objective study; every other one runs it."""
    import optuna

    _require(algorithm)
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    space = GRID_SPACE if algorithm == "grid" else SPACE
    study = optuna.create_study(sampler=make_sampler(algorithm, space, 0), directions=["minimize", "minimize"])
    can = OptunaBackend().capabilities_of(algorithm)
    if can.multi == "no":
        with pytest.raises(ValueError, match="multi-objective"):
            study.optimize(lambda t: _objective(t, 2, algorithm == "grid"), n_trials=3)
    else:
        study.optimize(lambda t: _objective(t, 2, algorithm == "grid"), n_trials=4)
        assert sum(t.state.name == "COMPLETE" for t in study.trials) == 4


@pytest.mark.parametrize("algorithm", ["cmaes", "qmc", "gp", "tpe"])
def test_random_fallbacks_are_what_optuna_does(algorithm: str) -> None:
    """Which parameters the sampler hands to its independent (random) sampler once past its start-up trials, recorded
    at that sampler itself: the conditional child and the categorical exactly when the table says 'at random'."""
    import optuna

    _require(algorithm)
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    sampler = make_sampler(algorithm, SPACE, 0)
    fallback = sampler._independent_sampler if hasattr(sampler, "_independent_sampler") else sampler._random_sampler
    sampled_apart: list[tuple[int, str]] = []
    original = fallback.sample_independent

    def recorded(study, trial, name, distribution):
        sampled_apart.append((trial.number, name))
        return original(study, trial, name, distribution)

    fallback.sample_independent = recorded
    study = optuna.create_study(sampler=sampler)
    study.optimize(lambda t: _objective(t, 1, indifferent=True), n_trials=24)
    late = {name for number, name in sampled_apart if number >= 12}  # past every sampler's start-up trials (10 by default)
    assert {t.params.get("kind") for t in study.trials[12:]} == {"a", "b"}  # both branches drawn late: the child too
    can = OptunaBackend().capabilities_of(algorithm)
    assert ("child" in late) == (can.conditional == RANDOM_FALLBACK), late
    assert ("kind" in late) == (can.categorical == RANDOM_FALLBACK), late
    assert "x" not in late, late


def test_list_shows_every_algorithm_and_its_capabilities() -> None:
    result = bench("list", timeout=120)
    assert result.returncode == 0, result.stderr
    rows = [line for line in result.stdout.splitlines() if line.startswith("| optuna") or line.startswith("| keras-tuner")]
    assert len(rows) == len(OptunaBackend.algorithms) + 4
    cmaes = next(r for r in rows if "| cmaes" in r)
    assert [c.strip() for c in cmaes.strip("|").split("|")][2:4] == ["yes", "no"]
    assert all("scalarised (unweighted sum)" in r for r in rows if r.startswith("| keras-tuner"))
    ray = {cells[1]: cells[2:] for r in result.stdout.splitlines() if r.startswith("| ray-tune")
           for cells in [[c.strip() for c in r.strip("|").split("|")]]}
    assert set(ray) == {"random", "grid", "optuna", "hyperopt"}
    assert ray["optuna"][1].startswith("pareto") and ray["optuna"][2] == "yes"  # OptunaSearch: several metrics, define-by-run
    assert all(ray[name][1:3] == ["no", "no"] for name in ("random", "grid", "hyperopt")), ray
    assert "--scheduler asha" in result.stdout and "--search optuna" in result.stdout
