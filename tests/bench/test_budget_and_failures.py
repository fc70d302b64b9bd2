"""Budget details beyond the backend contract (tests/backends/test_conformance.py): pruning, the CLI clock, the guard."""

from __future__ import annotations

import json

import pytest

from backends.conformance import check_run_invariants
from bench.errors import UsageError
from bench.run.budget import Budget, BudgetGuard
from tests.bench.conftest import TINY, read_trials
from tests.helpers import bench


def test_pruners_and_hyperband_really_cut_trials_short(run_bench):
    optuna = read_trials(run_bench(backend="optuna", algorithm="random", pruner="median", trials=10, max_epochs=6))
    assert any(t["state"] == "pruned" for t in optuna)
    pruned = [t for t in optuna if t["state"] == "pruned"]
    assert all(t["epochs_run"] < 6 and t["test_objective"] is None and t["objective"] is not None for t in pruned)
    hyperband = read_trials(run_bench(backend="keras-tuner", algorithm="hyperband", trials=6, max_epochs=9))
    assert {t["epochs_run"] for t in hyperband} != {9}
    assert min(t["epochs_run"] for t in hyperband) < 9


@pytest.mark.slow
def test_12_second_time_budget_ends_the_whole_command(tmp_path):
    """KerasTuner has no global time limit of its own; the clock also covers imports and data loading. No trial starts
    after the budget, and the one running when it ran out is stopped by it (at its next batch)."""
    result = bench("run", "--backend", "keras-tuner", "--task", "backends.conformance:synthetic_with_slow_epochs", "--time-budget", "12",
                   "--trials", "1000", "--run-id", "t", "--results-dir", str(tmp_path), "--quiet", timeout=300)
    assert result.returncode == 0, result.stderr
    run = json.loads((tmp_path / "t" / "run.json").read_text())
    assert run["stop_reason"] == "time" and run["budget_spent"]["seconds"] >= 12
    trials = check_run_invariants(run)
    assert all(t["started_at_seconds"] < 12 for t in trials)
    assert trials[-1]["stopped_by"] == "time_budget" and trials[-1]["finished_at_seconds"] >= 12


def test_epochs_for_trial_never_passes_the_epoch_budget():
    guard = BudgetGuard(Budget(trials=None, max_epochs=9, epoch_budget=20), epochs=15)
    assert guard.epochs_for_trial() == 5
    assert guard.epochs_for_trial(3) == 3
    guard.epochs = 20
    assert guard.exhausted() == "epochs"


@pytest.mark.parametrize("kwargs", [{"trials": 0}, {"max_epochs": -1}, {"time_budget": 0}, {"time_budget": float("inf")}])
def test_bad_budgets_are_usage_errors(kwargs):
    with pytest.raises(UsageError):
        Budget(**kwargs)


@pytest.mark.parametrize(("kwargs", "trials"), [({}, 10), ({"max_epochs": 3}, 10), ({"epoch_budget": 40}, None),
                                                 ({"time_budget": 60.0}, None), ({"trials": 4, "epoch_budget": 40}, 4)])
def test_ten_trials_only_when_no_other_limit_is_given(kwargs, trials):
    assert Budget(**kwargs).trials == trials


@pytest.mark.slow
@pytest.mark.parametrize(("backend", "algorithm"), [("optuna", "tpe"), ("keras-tuner", "hyperband")])
def test_an_epoch_budget_alone_is_the_whole_budget_from_the_command_line(tmp_path, backend, algorithm):
    """Given only --epoch-budget, a run spends exactly that many epochs; no default trial count cuts it short."""
    max_epochs = "1" if backend == "optuna" else "3"
    result = bench("run", "--backend", backend, "--algorithm", algorithm, "--epoch-budget", "14", "--max-epochs", max_epochs,
                   "--task", "synthetic", "--run-id", "e", "--results-dir", str(tmp_path), "--quiet", timeout=600)
    assert result.returncode == 0, result.stderr
    run = json.loads((tmp_path / "e" / "run.json").read_text())
    trials = check_run_invariants(run)
    assert run["budget"]["trials"] is None and run["stop_reason"] == "epochs"
    assert run["budget_spent"]["epochs"] == 14
    if backend == "optuna":
        assert len(trials) == 14  # more than the 10 trials that used to cap every run
    else:
        assert {t["epochs_run"] for t in trials} != {3}  # Hyperband's brackets ran, and kept running past one iteration


@pytest.mark.parametrize("backend", ["optuna", "keras-tuner"])
def test_early_stopped_trials_keep_the_invariants_and_stop_after_patience_epochs(run_bench, backend):
    trials = read_trials(run_bench(backend=backend, task="cnn", space=TINY, patience=1, trials=3, max_epochs=10, train_subset=100))
    stopped = [t for t in trials if t["stopped_by"] == "early_stopping"]
    assert stopped, "no trial stopped early in 10 epochs with patience 1 on 80 training images"
    for t in stopped:
        accs = t["objective_per_epoch"]
        best = accs.index(max(accs))  # the first best epoch, computed from the recorded epochs
        assert t["epochs_run"] < 10 and len(accs) - 1 - best == 1 and t["best_epoch"] == best + 1
