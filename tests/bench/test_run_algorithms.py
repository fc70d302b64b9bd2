"""What `bench run` records beyond the backend contract (tests/backends/test_conformance.py): run.json, storage, checkpoints."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.bench.conftest import read_trials


def test_run_json_states_everything_asked_spent_and_used(run_bench):
    run = run_bench(backend="keras-tuner", trials=1, max_epochs=1, seed=7)
    stored = json.loads((Path(run["folder"]) / "run.json").read_text())
    for key in ("command_line", "config", "space", "budget", "budget_spent", "backend", "algorithm", "library_versions",
                "keras_backend", "machine", "git_commit", "seed", "started_at", "ended_at", "disk_bytes_final", "disk_bytes_peak", "task"):
        assert key in stored, key
    assert stored["seed"] == 7 and stored["keras_backend"] == "tensorflow"
    oracle = json.loads(next(Path(run["work_dir"]).glob("*/oracle.json")).read_text())
    assert stored["seeds"]["keras-tuner (library)"] == oracle["seed"] == 8  # KerasTuner's oracle was given seed + 1
    assert {"keras-tuner", "tensorflow", "keras"} <= set(stored["library_versions"])
    assert stored["machine"]["cpu"] and stored["task"]["name"] == "synthetic" and stored["task"]["reference"] == "synthetic"
    assert stored["objective"] == stored["task"]["objective"] == {"metric": "val_score", "direction": "max"}
    assert stored["space"]["name"] == "synthetic" and stored["status"] == "complete"


def test_optuna_study_is_stored_and_reloadable(run_bench):
    import optuna

    run = run_bench(backend="optuna", algorithm="random", trials=2, max_epochs=1)
    from backends.optuna_storage import JOURNAL_FILE, journal_storage

    journal = Path(run["work_dir"]) / JOURNAL_FILE
    study = optuna.load_study(study_name=run["run_id"], storage=journal_storage(journal))
    assert len(study.trials) == 2
    recorded = read_trials(run)
    assert [t.params["units"] for t in study.trials] == [t["params"]["units"] for t in recorded]
    assert study.best_trial.number == run["best_trial"]["number"]
    # Test metrics live only in tunebench's records: nothing of them is billed to Optuna's storage.
    assert all(not t.user_attrs for t in study.trials)
    assert "test" not in journal.read_text()


def test_keras_tuner_writes_its_own_checkpoints_into_the_run_folder(run_bench):
    run = run_bench(backend="keras-tuner", trials=2, max_epochs=1)
    checkpoints = list(Path(run["work_dir"]).rglob("*.weights.h5"))
    assert len(checkpoints) == 2
    trials = read_trials(run)
    assert trials[1]["disk_bytes"] > trials[0]["disk_bytes"] > 0
    # Each trial's figure was sampled when it ended, and the checkpoint it wrote is in it.
    first = sorted(checkpoints)[0]
    assert trials[0]["disk_apparent_bytes"] >= first.stat().st_size


@pytest.mark.slow
def test_conditional_space_builds_three_block_models(run_bench):
    run = run_bench(backend="keras-tuner", task="cnn", space="conditional_cnn", trials=4, max_epochs=1, seed=1, train_subset=200)
    trials = read_trials(run)
    assert all(t["state"] == "complete" for t in trials)
    assert all(("conv3_filters" in t["params"]) == (t["params"]["n_conv_blocks"] == 3) for t in trials)


@pytest.mark.slow
def test_the_synthetic_task_scores_each_configuration_alike_in_both_backends(run_bench, tmp_path):
    """Fairness of the zero-cost task: a configuration gets the same curve whichever backend's loop runs it (each backend
    spells its values its own way; each run's scores are also checked against its backend's own storage)."""
    from backends.conformance import GRID_SPACE
    from search_space import save_space

    space = tmp_path / "grid.yaml"
    save_space(GRID_SPACE, space)
    curves = {}
    for backend in ("optuna", "keras-tuner"):
        trials = read_trials(run_bench(backend=backend, algorithm="grid", space=str(space), trials=8, max_epochs=3))
        curves[backend] = {tuple(sorted(t["params"].items())): t["objective_per_epoch"] for t in trials}
    assert len(curves["optuna"]) == 8  # the whole 2 x 2 x 2 grid, each configuration once
    assert curves["optuna"].keys() == curves["keras-tuner"].keys()
    for config, curve in curves["optuna"].items():
        assert curve == curves["keras-tuner"][config], config
