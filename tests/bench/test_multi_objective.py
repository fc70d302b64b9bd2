"""The issue's commands: a multi-objective search of the CNN with each backend, with --tensorboard, then `bench report`.

Checked against independent sources: Optuna's own Pareto front (`study.best_trials`) and stored values, KerasTuner's
stored score (its MultiObjective sum), parameter counts summed from the models' weight shapes, the hypervolume from a
2-D sweep over trials.jsonl, and the TensorBoard event files read back with TensorBoard's own reader.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from backends.conformance import check_run_invariants, stored_trials
from tests.helpers import bench, error_lines

pytestmark = [pytest.mark.xdist_group("multi_objective"), pytest.mark.slow]  # its module fixtures run once, on one of pytest-xdist's workers

OBJECTIVES = "val_accuracy:max,params:min"


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`bench run --backend optuna --sampler nsga2 --objectives val_accuracy:max,params:min --trials 8`, and the same with
    KerasTuner, 2 epochs per trial, with --tensorboard; the CNN on digits, trained for real."""
    results = tmp_path_factory.mktemp("multi")
    for backend, algorithm in (("optuna", "nsga2"), ("keras-tuner", "random")):
        result = bench("run", "--backend", backend, "--algorithm", algorithm, "--objectives", OBJECTIVES, "--trials", "8",
                       "--max-epochs", "2", "--tensorboard", "--run-id", backend, "--results-dir", str(results), "--quiet", timeout=900)
        assert result.returncode == 0, result.stderr[-3000:]
    return results


def _run(results: Path, backend: str) -> dict:
    return json.loads((results / backend / "run.json").read_text())


def _trials(results: Path, backend: str) -> list[dict]:
    return [json.loads(line) for line in (results / backend / "trials.jsonl").read_text().splitlines() if line.strip()]


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["optuna", "keras-tuner"])
def test_every_objective_is_recorded_and_the_pareto_set_kept(two_runs: Path, backend: str) -> None:
    import keras

    from bench.task.base import TaskOptions
    from bench.task.registry import load_task

    run = _run(two_runs, backend)
    trials = check_run_invariants(run)  # each value against the backend's storage; the front pairwise and, for Optuna, best_trials
    assert len(trials) == 8 and run["status"] == "complete"
    assert run["search"].startswith("pareto (NSGA-II)" if backend == "optuna" else "scalarised")
    assert run["pareto_trials"], "a run with complete trials has a Pareto front"
    task = load_task("cnn", TaskOptions())
    for t in (t for t in trials if t["state"] == "complete"):
        keras.utils.set_random_seed(0)
        model = task.build(t["params"])  # the parameter count again, from the weights' shapes
        assert t["objectives"]["params"] == sum(int(np.prod(w.shape)) for w in model.weights)
        assert t["objectives"]["val_accuracy"] == t["objective"]  # the scored epoch's accuracy


@pytest.mark.slow
def test_keras_tuner_is_labelled_scalarised_in_every_table(two_runs: Path) -> None:
    result = bench("report", str(two_runs), "--out", str(two_runs / "report"), timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    out = two_runs / "report"
    summary = pd.read_csv(out / "summary.csv")
    assert sorted(summary["backend/algorithm"]) == ["keras-tuner/random [scalarised]", "optuna/nsga2"]
    assert set(summary["multi-objective search"]) == {"scalarised", "pareto (NSGA-II)"}
    for table in ("significance_val", "significance_test", "significance_hypervolume", "runs"):
        assert "keras-tuner/random [scalarised]" in (out / f"{table}.csv").read_text(), table
    assert any("KerasTuner's MultiObjective minimises one sum" in line for line in error_lines(result.stderr))
    for path in [out / "plots" / "pareto_fronts.png", out / "optuna_views" / "optuna_pareto_front.png",
                 out / "optuna_views" / "keras-tuner_pareto_front.png"]:
        assert path.stat().st_size > 10_000, path
    # The hypervolume share again, by a sweep over trials.jsonl, with the reference point the report states.
    numbers = pd.read_csv(out / "runs.csv").set_index("run_id")
    points = {b: np.array([[t["objectives"]["val_accuracy"], t["objectives"]["params"]] for t in _trials(two_runs, b)
                           if t["state"] == "complete"]) for b in ("optuna", "keras-tuner")}
    every = np.vstack(list(points.values()))
    best, worst = np.array([every[:, 0].max(), every[:, 1].min()]), np.array([every[:, 0].min(), every[:, 1].max()])
    ref = worst + 0.1 * (worst - best)  # 10% of each range beyond the worst value
    for backend, pts in points.items():
        losses = np.column_stack([-pts[:, 0], pts[:, 1]])
        order = np.argsort(losses[:, 0], kind="stable")
        area, lowest = 0.0, ref[1]
        xs = list(losses[order, 0]) + [-ref[0]]
        for k, i in enumerate(order):
            lowest = min(lowest, losses[i, 1])
            area += (xs[k + 1] - losses[i, 0]) * (ref[1] - lowest)
        share = area / ((best[0] - ref[0]) * (ref[1] - best[1]))
        assert numbers.loc[backend, "hypervolume"] == pytest.approx(share, rel=1e-9), backend


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["optuna", "keras-tuner"])
def test_tensorboard_holds_hparams_for_every_trial(two_runs: Path, backend: str) -> None:
    """Each trial's run: its HParams session holds the params the backend stored, its final metrics the recorded values,
    its validation curve every epoch; read with TensorBoard's own event reader."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.plugins.hparams import plugin_data_pb2

    run = _run(two_runs, backend)
    stored = {s.backend_trial_id: s for s in stored_trials(run)}
    trials = _trials(two_runs, backend)
    log_dir = two_runs / backend / "tensorboard"
    assert sorted(p.name for p in log_dir.iterdir()) == [f"trial-{t['number']:04d}" for t in trials]
    for t in trials:
        events = EventAccumulator(str(log_dir / f"trial-{t['number']:04d}"))
        events.Reload()
        content = events.PluginTagToContent("hparams")
        start = plugin_data_pb2.HParamsPluginData.FromString(content["_hparams_/session_start_info"]).session_start_info
        end = plugin_data_pb2.HParamsPluginData.FromString(content["_hparams_/session_end_info"]).session_end_info
        hparams = {k: (v.string_value if v.HasField("string_value") else v.number_value) for k, v in start.hparams.items()}
        for name, value in stored[t["backend_trial_id"]].params.items():
            assert hparams[name] == (pytest.approx(value) if isinstance(value, (int, float)) else value), (t["number"], name)
        assert hparams["run.backend"] == backend and hparams["trial.state"] == t["state"]
        assert end.status == (1 if t["state"] == "complete" else 2)  # STATUS_SUCCESS, STATUS_FAILURE
        if t["state"] == "complete":
            for name, value in t["objectives"].items():
                assert events.Scalars(name)[-1].value == pytest.approx(value, rel=1e-6)
        validation = EventAccumulator(str(log_dir / f"trial-{t['number']:04d}" / "validation"))
        validation.Reload()
        assert [e.value for e in validation.Scalars("epoch_accuracy")] == pytest.approx(t["objective_per_epoch"], rel=1e-6)
        assert [e.step for e in validation.Scalars("epoch_accuracy")] == list(range(t["epochs_run"]))


def test_an_unsupported_combination_gets_one_line(tmp_path: Path) -> None:
    for args, message in (
        (["--sampler", "cmaes"], "optuna --sampler cmaes cannot search several objectives; use one of: tpe, random, grid, qmc, gp, nsga2"),
        (["--pruner", "median"], "--pruner median cannot prune a multi-objective search"),
    ):
        result = bench("run", "--task", "synthetic", "--objectives", OBJECTIVES, *args, "--results-dir", str(tmp_path), timeout=300)
        assert result.returncode == 2
        lines = error_lines(result.stderr)
        assert len(lines) == 1 and message in lines[0], lines
    assert not list(tmp_path.iterdir())  # refused before any run folder was made


@pytest.mark.parametrize("backend", ["optuna", "keras-tuner"])
def test_sigkill_mid_trial_of_a_multi_objective_run_then_resume(tmp_path: Path, backend: str) -> None:
    """The killed trial ends failed in the backend's storage and our records; the resumed run's every objective and its
    Pareto set agree with the storage (Optuna's best_trials); --tensorboard writes the killed trial's run too."""
    import signal

    from tests.bench.test_cli_run import SLOW_TASK, SYNTHETIC_SPACE
    from tests.helpers import Holds, start_bench

    holds = Holds(tmp_path / "holds", (2, 1))
    proc = start_bench("run", "--backend", backend, "--task", SLOW_TASK, "--space", str(SYNTHETIC_SPACE), "--trials", "5", "--max-epochs",
                       "3", "--objectives", "val_score:max,params:min", "--tensorboard", "--run-id", "r", "--results-dir", str(tmp_path),
                       "--quiet", env=holds.env)
    folder = tmp_path / "r"
    held = holds.wait(2, 1)  # the kill lands in the third trial, after its first epoch
    running = json.loads((folder / "running_trial.json").read_text())
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL and held["pid"] == proc.pid and (running["number"], running["epochs_run"]) == (2, 1), running
    result = bench("run", "--resume", "r", "--results-dir", str(tmp_path), "--quiet")
    assert result.returncode == 0, result.stderr[-3000:]
    run = json.loads((folder / "run.json").read_text())
    trials = check_run_invariants(run)
    assert run["status"] == "complete" and len(trials) == 5
    killed = [t for t in trials if t["stopped_by"] == "killed"]
    assert [t["number"] for t in killed] == [2] and killed[0]["objectives"] is None
    assert sorted(p.name for p in (folder / "tensorboard").iterdir()) == [f"trial-{n:04d}" for n in range(5)]
