"""Every backend and algorithm really tunes the CNN task on a tiny budget and records every trial."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.bench.conftest import TINY, TINY_GRID, read_trials

CASES = [
    ("optuna", "tpe", None, TINY),
    ("optuna", "random", None, TINY),
    ("optuna", "grid", None, TINY_GRID),
    ("optuna", "cmaes", None, TINY),
    ("optuna", "qmc", None, TINY),
    ("keras-tuner", "random", None, TINY),
    ("keras-tuner", "bayesian", None, TINY),
    ("keras-tuner", "grid", None, TINY_GRID),
]


@pytest.mark.parametrize(("backend", "algorithm", "pruner", "space"), CASES, ids=[f"{b}-{a}" for b, a, _, _ in CASES])
def test_backend_algorithm_runs_and_records(run_bench, backend, algorithm, pruner, space):
    run = run_bench(backend=backend, algorithm=algorithm, pruner=pruner, space=space, trials=2, max_epochs=2)
    trials = read_trials(run)
    assert run["status"] == "complete" and run["algorithm"] == algorithm
    assert [t["number"] for t in trials] == [0, 1]
    for trial in trials:
        assert trial["state"] == "complete", trial["error"]
        assert 0.0 <= trial["val_accuracy"] <= 1.0 and 0.0 <= trial["test_accuracy"] <= 1.0
        assert trial["epochs_run"] == len(trial["val_accuracy_per_epoch"]) == 2
        assert trial["val_accuracy"] == max(trial["val_accuracy_per_epoch"])
        assert trial["best_epoch"] == trial["val_accuracy_per_epoch"].index(trial["val_accuracy"]) + 1
        assert trial["train_seconds"] > 0 and trial["overhead_seconds"] >= 0
        assert abs(trial["wall_seconds"] - trial["train_seconds"] - trial["eval_seconds"] - trial["overhead_seconds"]) < 0.01
    assert run["budget_spent"]["trials"] == 2 and run["budget_spent"]["epochs"] == 4
    best = max(trials, key=lambda t: t["val_accuracy"])
    assert run["best_trial"]["val_accuracy"] == best["val_accuracy"]
    work_dir = Path(run["work_dir"])
    assert work_dir.exists() and run["disk_bytes_final"] > 0 and run["disk_bytes_peak"] >= run["disk_bytes_final"]
    assert trials[-1]["disk_bytes"] <= run["disk_bytes_peak"]


def test_run_json_states_everything_asked_spent_and_used(run_bench):
    run = run_bench(backend="keras-tuner", trials=1, max_epochs=1, seed=7)
    stored = json.loads((Path(run["folder"]) / "run.json").read_text())
    for key in ("command_line", "config", "space", "budget", "budget_spent", "backend", "algorithm", "library_versions",
                "keras_backend", "machine", "git_commit", "seed", "started_at", "ended_at", "disk_bytes_final", "disk_bytes_peak", "task"):
        assert key in stored, key
    assert stored["seed"] == 7 and stored["keras_backend"] == "tensorflow"
    assert {"keras-tuner", "tensorflow", "keras"} <= set(stored["library_versions"])
    assert stored["machine"]["cpu"] and stored["task"]["dataset"]["train"] + stored["task"]["dataset"]["val"] == 200
    assert stored["space"]["name"] == "tiny" and stored["status"] == "complete"


def test_optuna_study_is_stored_and_reloadable(run_bench):
    import optuna

    run = run_bench(backend="optuna", algorithm="random", trials=2, max_epochs=1)
    from backends.optuna_backend import JOURNAL_FILE, journal_storage

    study = optuna.load_study(study_name=run["run_id"], storage=journal_storage(Path(run["work_dir"]) / JOURNAL_FILE))
    assert len(study.trials) == 2
    recorded = read_trials(run)
    assert [t.params["dense"] for t in study.trials] == [t["params"]["dense"] for t in recorded]
    assert study.best_value == max(t["val_accuracy"] for t in recorded)
    assert study.best_trial.user_attrs["test_accuracy"] == run["best_trial"]["test_accuracy"]


def test_keras_tuner_writes_its_own_checkpoints_into_the_run_folder(run_bench):
    run = run_bench(backend="keras-tuner", trials=2, max_epochs=1)
    checkpoints = list(Path(run["work_dir"]).rglob("*.weights.h5"))
    assert len(checkpoints) == 2
    trials = read_trials(run)
    assert trials[1]["disk_bytes"] > trials[0]["disk_bytes"] > 0


def test_same_seed_random_sampler_suggests_the_same_params(run_bench):
    first = read_trials(run_bench(backend="optuna", algorithm="random", trials=3, max_epochs=1, seed=3))
    second = read_trials(run_bench(backend="optuna", algorithm="random", trials=3, max_epochs=1, seed=3))
    other = read_trials(run_bench(backend="optuna", algorithm="random", trials=3, max_epochs=1, seed=4))
    assert [t["params"] for t in first] == [t["params"] for t in second]
    assert [t["params"] for t in first] != [t["params"] for t in other]


def test_conditional_space_builds_three_block_models(run_bench):
    run = run_bench(backend="keras-tuner", space="conditional_cnn", trials=4, max_epochs=1, seed=1)
    trials = read_trials(run)
    assert all(t["state"] == "complete" for t in trials)
    assert all(("conv3_filters" in t["params"]) == (t["params"]["n_conv_blocks"] == 3) for t in trials)
