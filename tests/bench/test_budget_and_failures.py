"""Budget details beyond the backend contract (tests/backends/test_conformance.py): pruning, the CLI clock, the guard."""

from __future__ import annotations

import json
import time

import pytest

from bench.budget import Budget, BudgetGuard
from bench.errors import UsageError
from tests.bench.conftest import read_trials
from tests.helpers import bench


def test_pruners_and_hyperband_really_cut_trials_short(run_bench):
    optuna = read_trials(run_bench(backend="optuna", algorithm="random", pruner="median", trials=10, max_epochs=6, train_subset=100))
    assert any(t["state"] == "pruned" for t in optuna)
    pruned = [t for t in optuna if t["state"] == "pruned"]
    assert all(t["epochs_run"] < 6 and t["test_accuracy"] is None and t["val_accuracy"] is not None for t in pruned)
    hyperband = read_trials(run_bench(backend="keras-tuner", algorithm="hyperband", trials=6, max_epochs=9, train_subset=100))
    assert {t["epochs_run"] for t in hyperband} != {9}
    assert min(t["epochs_run"] for t in hyperband) < 9


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
