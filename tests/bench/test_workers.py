"""Several worker processes on one search under one budget: Optuna (journal file, PostgreSQL) and KerasTuner's
chief/worker mode; faults (SIGKILL of a worker, Ctrl-C), workers joining, workers replaced after K trials.

Checked against the backends' own storage (Optuna's study read back, KerasTuner's trial files), the workers' process ids,
and the trials' own start and end times.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path

import pytest

from backends.conformance import check_run_invariants, stored_trials
from tests.helpers import Holds, bench, error_lines, start_bench

SLOW_TASK = "backends.conformance:synthetic_with_slow_epochs"  # 0.3 s epochs: workers' trials overlap, a kill lands inside one


def _run(folder: Path) -> dict:
    return json.loads((folder / "run.json").read_text())


@pytest.mark.slow
@pytest.mark.parametrize(("backend", "trials"), [("optuna", 8), ("keras-tuner", 6)])
def test_two_workers_record_exactly_the_budget(tmp_path: Path, backend: str, trials: int) -> None:
    """The issue's commands: `bench run --backend B --workers 2 --trials T --max-epochs 2` (the CNN on digits). Trials 0 and 1
    are held after their first epoch until both are: the two workers train at the same time."""
    holds = Holds(tmp_path / "holds", ("*", 1))
    proc = start_bench("run", "--backend", backend, "--workers", "2", "--trials", str(trials), "--max-epochs", "2", "--run-id", "r",
                       "--results-dir", str(tmp_path), "--quiet", env=holds.env)
    first, second = holds.wait_for_held(2)
    holds.release_all()
    out, err = proc.communicate(timeout=900)
    assert proc.returncode == 0, err[-3000:]
    assert first["worker"] != second["worker"] and first["pid"] != second["pid"]
    run = _run(tmp_path / "r")
    recorded = check_run_invariants(run)  # every trial against the backend's storage: none lost, none repeated
    stored = stored_trials(run)
    assert len(recorded) == len(stored) == trials and run["budget_spent"]["trials"] == trials
    assert len({s.backend_trial_id for s in stored}) == trials
    assert {t["worker"] for t in recorded} == {"w0", "w1"}
    assert {w["name"] for w in run["worker_processes"]} == {"w0", "w1"} and len({w["pid"] for w in run["worker_processes"]}) == 2
    assert run["status"] == "complete" and run["workers"] == 2 and run["overshoot"]["trials"] == 0


def _start(tmp_path: Path, *args: str, holds: Holds | None = None) -> subprocess.Popen:
    return start_bench("run", "--task", SLOW_TASK, "--max-epochs", "3", "--run-id", "r", "--results-dir", str(tmp_path), "--quiet", *args,
                       env=holds.env if holds else None)


def _kill_the_holder(folder: Path, held: dict) -> dict:
    """SIGKILL the worker holding a trial after its first epoch; returns what that trial's checkpoint had saved."""
    saved = json.loads((folder / "running" / f"{held['worker']}.json").read_text())
    assert (saved["number"], saved["epochs_run"], saved["pid"]) == (held["trial"], 1, held["pid"]), saved
    os.kill(held["pid"], signal.SIGKILL)
    return saved


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["optuna", "keras-tuner"])
def test_a_worker_killed_mid_trial_fails_its_trial_and_the_budget_holds(tmp_path: Path, backend: str) -> None:
    holds = Holds(tmp_path / "holds", ("*", 1))
    proc = _start(tmp_path, "--backend", backend, "--workers", "2", "--trials", "8", holds=holds)
    saved = _kill_the_holder(tmp_path / "r", holds.wait_for_held(1)[0])
    holds.wait_for_worker("w2")  # nothing is released until the killed worker's replacement is inside a trial too
    holds.release_all()
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err[-3000:]
    run = _run(tmp_path / "r")
    trials = check_run_invariants(run)  # the killed trial is failed in Optuna's study / KerasTuner's oracle too
    assert len(trials) == 8 and run["budget_spent"]["trials"] == 8
    killed = [t for t in trials if t["stopped_by"] == "killed"]
    assert [(t["backend_trial_id"], t["worker"], t["state"]) for t in killed] == [(saved["backend_trial_id"], saved["worker"], "failed")]
    assert killed[0]["epochs_run"] == 1
    assert "w2" in {t["worker"] for t in trials}  # the killed worker's replacement went on with the other
    assert any(w["name"] == saved["worker"] and w["exit"] == "signal 9" for w in run["worker_processes"])


@pytest.mark.slow
def test_postgresql_storage_with_a_joined_worker_and_a_killed_one(tmp_path: Path, postgres_server) -> None:
    """The study in PostgreSQL (a plain postgresql:// URL, heartbeat on): one worker joins through `bench join`, one is
    killed with SIGKILL part-way; Optuna's heartbeat fails the killed trial in the database, and the budget holds."""
    import optuna

    url = postgres_server()
    holds = Holds(tmp_path / "holds", ("*", 1))  # both workers held inside a trial: the joined worker claims the next one
    proc = _start(tmp_path, "--backend", "optuna", "--workers", "2", "--trials", "10", "--storage", url, holds=holds)
    folder = tmp_path / "r"
    first, _ = holds.wait_for_held(2)
    joined = start_bench("join", str(folder), env=holds.env)
    assert holds.wait_for_held(3)[2]["worker"].startswith(os.uname().nodename)
    saved = _kill_the_holder(folder, first)
    holds.release_all()
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err[-3000:]
    assert joined.wait(timeout=300) == 0, joined.stderr.read()[-3000:]
    run = _run(folder)
    assert run["storage"] == url and run["status"] == "complete"
    study = optuna.load_study(study_name=run["run_id"], storage=url)
    by_number = {str(t.number): t for t in study.trials}
    trials = [json.loads(line) for line in (folder / "trials.jsonl").read_text().splitlines()]
    assert len(trials) == len(study.trials) == 10 and run["budget_spent"]["trials"] == 10
    assert by_number[saved["backend_trial_id"]].state == optuna.trial.TrialState.FAIL  # failed by Optuna's heartbeat
    for t in trials:
        stored = by_number[t["backend_trial_id"]]
        assert stored.state.name.lower().replace("fail", "failed") == t["state"]
        if t["state"] == "complete":
            assert stored.value == pytest.approx(t["objective"])
    assert any(t["worker"].startswith(os.uname().nodename) for t in trials), "the joined worker ran no trial"


@pytest.mark.slow
def test_ctrl_c_stops_every_worker_and_resume_finishes(tmp_path: Path) -> None:
    holds = Holds(tmp_path / "holds", ("*", 1))
    proc = _start(tmp_path, "--backend", "optuna", "--workers", "2", "--trials", "8", holds=holds)
    folder = tmp_path / "r"
    holds.wait_for_held(2)  # Ctrl-C lands while both workers are inside a trial, after its first epoch
    proc.send_signal(signal.SIGINT)
    holds.release_all()
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 130, err[-2000:]
    run = _run(folder)
    assert run["status"] == "interrupted"
    assert all(w["exit"] in (130, 0) for w in run["worker_processes"]), run["worker_processes"]
    trials = check_run_invariants(run)
    interrupted = [t for t in trials if t["stopped_by"] == "interrupted"]
    assert interrupted and all(t["state"] == "failed" for t in interrupted)
    result = bench("run", "--resume", "r", "--results-dir", str(tmp_path), "--quiet", timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    run = _run(folder)
    assert run["status"] == "complete" and len(check_run_invariants(run)) == 8


@pytest.mark.slow
def test_workers_are_replaced_after_k_trials(tmp_path: Path) -> None:
    result = bench("run", "--task", "synthetic", "--workers", "1", "--trials-per-worker", "2", "--trials", "6", "--max-epochs", "2",
                   "--run-id", "r", "--results-dir", str(tmp_path), "--quiet", timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    run = _run(tmp_path / "r")
    trials = check_run_invariants(run)
    assert len(trials) == 6
    by_worker = {}
    for t in trials:
        by_worker.setdefault(t["worker"], []).append(t)
    assert sorted(by_worker) == ["w0", "w1", "w2"] and all(len(v) == 2 for v in by_worker.values())
    assert len({w["pid"] for w in run["worker_processes"]}) == 3


@pytest.mark.parametrize(("args", "message"), [
    (["--devices", "gpu:0,gpu:0"], "give cpu, or distinct GPUs"),
    (["--devices", "gpu:0,gpu:1", "--workers", "3"], "one worker runs per listed GPU"),
    (["--backend", "keras-tuner", "--storage", "postgresql://u@h:5432/d"], "--storage is for optuna"),
    (["--storage", "not a url"], "give a database URL"),
    (["--storage", "postgresql://u:secret@h:5432/d", "--backend", "keras-tuner"], "--storage is for optuna"),
])
def test_bad_distribution_flags_get_one_line(tmp_path: Path, args: list[str], message: str) -> None:
    result = bench("run", "--task", "synthetic", *args, "--results-dir", str(tmp_path), timeout=300)
    lines = error_lines(result.stderr)
    assert result.returncode == 2 and len(lines) == 1 and message in lines[0], lines
    assert "secret" not in result.stderr


@pytest.mark.slow
def test_report_keeps_worker_counts_apart_and_shows_utilisation(tmp_path: Path) -> None:
    """One worker against two: refused together unless --allow-mixed; then labelled apart, with each run's utilisation
    recomputed here from trials.jsonl, and the per-worker timeline drawn."""
    import pandas as pd

    runs = tmp_path / "runs"
    for workers in (1, 2):
        result = bench("run", "--task", SLOW_TASK, "--workers", str(workers), "--trials", "4", "--max-epochs", "2",
                       "--run-id", f"x{workers}", "--results-dir", str(runs), "--quiet", timeout=600)
        assert result.returncode == 0, result.stderr[-3000:]
    refused = bench("report", str(runs), "--out", str(tmp_path / "report"), timeout=300)
    assert refused.returncode == 2 and "runs differ in 'workers'" in refused.stderr
    mixed = bench("report", str(runs), "--out", str(tmp_path / "report"), "--allow-mixed", timeout=300)
    assert mixed.returncode == 0, mixed.stderr[-3000:]
    table = pd.read_csv(tmp_path / "report" / "runs.csv").set_index("run_id")
    assert table.loc["x2", "label"].endswith(" x2") and not table.loc["x1", "label"].endswith(" x2")
    for run_id, workers in (("x1", 1), ("x2", 2)):
        trials = [json.loads(line) for line in (runs / run_id / "trials.jsonl").read_text().splitlines()]
        seconds = _run(runs / run_id)["budget_spent"]["seconds"]
        busy = sum(t["finished_at_seconds"] - t["started_at_seconds"] for t in trials)
        assert table.loc[run_id, "worker_utilisation"] == pytest.approx(busy / (workers * seconds), rel=1e-6)
    assert (tmp_path / "report" / "plots" / "worker_timeline.png").stat().st_size > 5_000
