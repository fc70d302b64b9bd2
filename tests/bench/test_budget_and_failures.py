"""One budget for all: epoch and time limits hold in every backend; crashing trials are recorded, not fatal."""

from __future__ import annotations

import json
import time

import pytest

from bench.budget import Budget, BudgetGuard
from bench.errors import UsageError
from tests.bench.conftest import FAILING, read_trials
from tests.helpers import bench

EPOCH_CASES = [
    ("optuna", "random", "none"),
    ("optuna", "tpe", "hyperband"),
    ("optuna", "random", "median"),
    ("keras-tuner", "hyperband", None),
    ("keras-tuner", "random", None),
]


@pytest.mark.parametrize(("backend", "algorithm", "pruner"), EPOCH_CASES, ids=[f"{b}-{a}-{p}" for b, a, p in EPOCH_CASES])
def test_epoch_budget_of_20_is_never_exceeded(run_bench, backend, algorithm, pruner):
    run = run_bench(backend=backend, algorithm=algorithm, pruner=pruner, trials=None, max_epochs=9, epoch_budget=20, train_subset=100)
    trials = read_trials(run)
    spent = sum(t["epochs_run"] for t in trials)
    assert spent == run["budget_spent"]["epochs"] == 20
    assert run["stop_reason"] == "epochs"
    assert all(t["epochs_run"] <= 9 for t in trials)


def test_pruners_and_hyperband_really_cut_trials_short(run_bench):
    optuna = read_trials(run_bench(backend="optuna", algorithm="random", pruner="median", trials=10, max_epochs=6, train_subset=100))
    assert any(t["state"] == "pruned" for t in optuna)
    pruned = [t for t in optuna if t["state"] == "pruned"]
    assert all(t["epochs_run"] < 6 and t["test_accuracy"] is None and t["val_accuracy"] is not None for t in pruned)
    hyperband = read_trials(run_bench(backend="keras-tuner", algorithm="hyperband", trials=6, max_epochs=9, train_subset=100))
    assert {t["epochs_run"] for t in hyperband} != {9}
    assert min(t["epochs_run"] for t in hyperband) < 9


def test_time_budget_ends_the_run_shortly_after_it(run_bench):
    started = time.monotonic()
    run = run_bench(backend="optuna", algorithm="random", trials=None, max_epochs=50, time_budget=12, train_subset=None)
    elapsed = time.monotonic() - started
    assert run["stop_reason"] == "time"
    assert 12 <= run["budget_spent"]["seconds"] < 12 + 4
    assert elapsed < 12 + 6
    trials = read_trials(run)
    assert trials and trials[-1]["stopped_by"] == "time_budget"


def test_30_second_time_budget_ends_the_whole_command_within_a_few_seconds(tmp_path):
    """KerasTuner has no global time limit of its own; the clock also covers imports and data loading."""
    started = time.monotonic()
    result = bench("run", "--backend", "keras-tuner", "--time-budget", "30", "--trials", "1000", "--run-id", "t",
                   "--results-dir", str(tmp_path), "--quiet", timeout=300)
    elapsed = time.monotonic() - started
    assert result.returncode == 0, result.stderr
    run = json.loads((tmp_path / "t" / "run.json").read_text())
    assert run["stop_reason"] == "time" and 30 <= run["budget_spent"]["seconds"] < 34
    assert elapsed < 30 + 8, f"the command ran {elapsed:.1f} s"


def test_crashing_trials_are_recorded_as_failed_and_the_run_goes_on(run_bench):
    for backend in ("optuna", "keras-tuner"):
        run = run_bench(backend=backend, algorithm="grid", space=FAILING, trials=4, max_epochs=1)
        trials = read_trials(run)
        assert len(trials) == 4 and run["status"] == "complete", backend
        by_params = {(t["params"]["dense"], t["params"]["learning_rate"]): t for t in trials}
        assert set(by_params) == {(0, 1e12), (0, 0.01), (16, 1e12), (16, 0.01)}
        assert "units" in by_params[(0, 0.01)]["error"] and by_params[(0, 0.01)]["state"] == "failed"
        nan = by_params[(16, 1e12)]
        assert nan["state"] == "failed" and "loss became nan" in nan["error"] and nan["epochs_run"] == 0
        assert by_params[(16, 0.01)]["state"] == "complete"
        assert run["trials_by_state"] == {"complete": 1, "pruned": 0, "failed": 3}


def test_epochs_for_trial_never_passes_the_epoch_budget():
    guard = BudgetGuard(Budget(trials=None, max_epochs=9, epoch_budget=20), epochs=15)
    assert guard.epochs_for_trial() == 5
    assert guard.epochs_for_trial(3) == 3
    guard.epochs = 20
    assert guard.exhausted() == "epochs"


@pytest.mark.parametrize("kwargs", [{"trials": 0}, {"max_epochs": -1}, {"time_budget": 0}, {"trials": None}])
def test_bad_budgets_are_usage_errors(kwargs):
    with pytest.raises(UsageError):
        Budget(**kwargs)
