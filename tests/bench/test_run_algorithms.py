"""What `bench run` records beyond the backend contract (tests/backends/test_conformance.py): run.json, storage, checkpoints."""

from __future__ import annotations

import json
from pathlib import Path

from tests.bench.conftest import read_trials


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


def test_conditional_space_builds_three_block_models(run_bench):
    run = run_bench(backend="keras-tuner", space="conditional_cnn", trials=4, max_epochs=1, seed=1)
    trials = read_trials(run)
    assert all(t["state"] == "complete" for t in trials)
    assert all(("conv3_filters" in t["params"]) == (t["params"]["n_conv_blocks"] == 3) for t in trials)
