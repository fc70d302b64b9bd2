"""The contract every tunebench backend meets, as one pytest suite (the way Optuna's `testing/pytest_samplers.py` works).

A backend's own tests subclass `BackendConformance` and say what to run; the tests then really train the CNN task on
a tiny budget (scikit-learn digits, 200 images) through `bench run`'s machinery:

    from backends.conformance import BackendConformance

    class TestMyBackend(BackendConformance):
        backend = "my-backend"              # its registered name (built-in or entry point)
        algorithms = ("first", "second")    # every algorithm that must run and record two 2-epoch trials

Needs pytest (a test dependency); nothing here is imported by `bench run` itself.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

import pytest

from search_space import CategoricalParam, FixedParam, FloatParam, IntParam, SearchSpace, save_space

RunFn = Callable[..., dict[str, Any]]

TINY_SPACE = SearchSpace(name="tiny", params=(
    IntParam(name="conv1_filters", low=4, high=8, step=4),
    FixedParam(name="conv2_filters", value=8),
    FloatParam(name="dropout", low=0.0, high=0.2, step=0.1),
    CategoricalParam(name="dense", choices=(16, 32)),
    FloatParam(name="learning_rate", low=3e-3, high=1e-2, log=True),
    FixedParam(name="batch_size", value=64),
))
GRID_SPACE = SearchSpace(name="tiny_grid", params=(
    IntParam(name="conv1_filters", low=4, high=8, step=4),
    FixedParam(name="conv2_filters", value=8),
    CategoricalParam(name="dense", choices=(16, 32)),
    CategoricalParam(name="learning_rate", choices=(0.003, 0.01)),
    FixedParam(name="batch_size", value=64),
))
FAILING_SPACE = SearchSpace(name="failing", description="Dense(0) fails at build time; learning rate 1e12 makes the loss NaN", params=(
    FixedParam(name="conv1_filters", value=4),
    FixedParam(name="conv2_filters", value=8),
    CategoricalParam(name="dense", choices=(0, 16)),
    CategoricalParam(name="learning_rate", choices=(1e12, 0.01)),
    FixedParam(name="batch_size", value=64),
))


def read_trials(run: dict[str, Any]) -> list[dict[str, Any]]:
    """The trials a run recorded, in order."""
    path = Path(run["folder"]) / "trials.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def run_in_process(results_dir: Path, *, backend: str, space: str, trials: int | None = 2, max_epochs: int = 2,
                   epoch_budget: int | None = None, time_budget: float | None = None, train_subset: int | None = 200,
                   **config: Any) -> dict[str, Any]:
    """One `bench run` in this process (TensorFlow imported once per test session); returns its run record."""
    from bench.budget import Budget
    from bench.runner import RunConfig, execute

    budget = Budget(trials=trials, max_epochs=max_epochs, epoch_budget=epoch_budget, time_budget=time_budget)
    run_config = RunConfig(backend=backend, space=space, train_subset=train_subset, results_dir=str(results_dir), budget=budget, **config)
    return execute(run_config, argv=["test"], quiet=True)


class BackendConformance:
    """Subclass with `backend` (and the class attributes below) to run the whole contract on one backend."""

    backend: ClassVar[str]
    algorithms: ClassVar[tuple[str | None, ...]] = (None,)  # None: the backend's default
    grid_algorithms: ClassVar[frozenset[str]] = frozenset({"grid"})  # need a fully discrete space
    budget_cases: ClassVar[tuple[tuple[str | None, str | None], ...]] = ((None, None),)  # (algorithm, pruner)
    failure_algorithm: ClassVar[str | None] = None
    seeded: ClassVar[bool] = True  # another seed draws other params (False for deterministic backends)

    def pytest_generate_tests(self, metafunc: pytest.Metafunc) -> None:
        if "algorithm" in metafunc.fixturenames:
            metafunc.parametrize("algorithm", self.algorithms, ids=[a or "default" for a in self.algorithms])
        if "budget_case" in metafunc.fixturenames:
            metafunc.parametrize("budget_case", self.budget_cases, ids=[f"{a or 'default'}-{p or 'no-pruner'}" for a, p in self.budget_cases])

    @pytest.fixture
    def run_tiny(self, tmp_path: Path) -> RunFn:
        """`run_tiny(space=..., trials=..., ...)`: one in-process `bench run` of this backend, returning its run record."""

        def run(*, space: SearchSpace = TINY_SPACE, **kwargs: Any) -> dict[str, Any]:
            space_file = tmp_path / f"{space.name}.yaml"
            save_space(space, space_file)
            return run_in_process(tmp_path / "results", backend=self.backend, space=str(space_file), **kwargs)

        return run

    def test_every_algorithm_runs_and_records_every_trial(self, run_tiny: RunFn, algorithm: str | None) -> None:
        space = GRID_SPACE if algorithm in self.grid_algorithms else TINY_SPACE
        run = run_tiny(algorithm=algorithm, space=space)
        trials = read_trials(run)
        assert run["status"] == "complete" and run["backend"] == self.backend
        assert [t["number"] for t in trials] == [0, 1]
        for trial in trials:
            assert trial["state"] == "complete", trial["error"]
            assert set(trial["params"]) == {p.name for p in space}
            assert 0.0 <= trial["val_accuracy"] <= 1.0 and 0.0 <= trial["test_accuracy"] <= 1.0
            assert trial["epochs_run"] == len(trial["val_accuracy_per_epoch"]) == 2
            assert trial["val_accuracy"] == max(trial["val_accuracy_per_epoch"])
            assert trial["best_epoch"] == trial["val_accuracy_per_epoch"].index(trial["val_accuracy"]) + 1
            assert trial["train_seconds"] > 0 and trial["overhead_seconds"] >= 0
            assert 0 < trial["callback_seconds"] < trial["fit_seconds"]
            assert abs(trial["wall_seconds"] - trial["train_seconds"] - trial["eval_seconds"] - trial["overhead_seconds"]) < 0.01
        assert run["budget_spent"]["trials"] == 2 and run["budget_spent"]["epochs"] == 4
        assert run["best_trial"]["val_accuracy"] == max(t["val_accuracy"] for t in trials)
        assert run["disk_bytes_peak"] >= run["disk_bytes_final"] and trials[-1]["disk_bytes"] <= run["disk_bytes_peak"]

    def test_epoch_budget_of_20_is_never_exceeded(self, run_tiny: RunFn, budget_case: tuple[str | None, str | None]) -> None:
        algorithm, pruner = budget_case
        run = run_tiny(algorithm=algorithm, pruner=pruner, trials=None, max_epochs=9, epoch_budget=20, train_subset=100)
        trials = read_trials(run)
        assert sum(t["epochs_run"] for t in trials) == run["budget_spent"]["epochs"] == 20
        assert run["stop_reason"] == "epochs"
        assert all(t["epochs_run"] <= 9 for t in trials)

    def test_time_budget_ends_the_run_shortly_after_it(self, run_tiny: RunFn) -> None:
        started = time.monotonic()
        run = run_tiny(trials=None, max_epochs=50, time_budget=8, train_subset=None)
        elapsed = time.monotonic() - started
        assert run["stop_reason"] == "time"
        assert 8 <= run["budget_spent"]["seconds"] < 8 + 4
        assert elapsed < 8 + 6
        trials = read_trials(run)
        assert trials and trials[-1]["stopped_by"] == "time_budget"

    def test_crashing_trials_are_recorded_as_failed_and_the_run_goes_on(self, run_tiny: RunFn) -> None:
        run = run_tiny(algorithm=self.failure_algorithm, space=FAILING_SPACE, trials=4, max_epochs=1)
        trials = read_trials(run)
        assert len(trials) == 4 and run["status"] == "complete"
        for trial in trials:
            dense, learning_rate = trial["params"]["dense"], trial["params"]["learning_rate"]
            if dense == 0:
                assert trial["state"] == "failed" and "units" in trial["error"], trial
            elif learning_rate == 1e12:
                assert trial["state"] == "failed" and "loss became nan" in trial["error"] and trial["epochs_run"] == 0, trial
            else:
                assert trial["state"] == "complete", trial
        failed = sum(t["state"] == "failed" for t in trials)
        assert run["trials_by_state"] == {"complete": 4 - failed, "pruned": 0, "failed": failed}

    def test_same_seed_draws_the_same_params(self, run_tiny: RunFn) -> None:
        first = read_trials(run_tiny(trials=2, max_epochs=1, seed=3))
        second = read_trials(run_tiny(trials=2, max_epochs=1, seed=3))
        assert [t["params"] for t in first] == [t["params"] for t in second]
        if self.seeded:
            other = read_trials(run_tiny(trials=2, max_epochs=1, seed=4))
            assert [t["params"] for t in first] != [t["params"] for t in other]
