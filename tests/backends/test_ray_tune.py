"""Ray Tune's faults and concurrency, through the real CLI: a SIGKILLed command resumed through `Tuner.restore`, a trial
whose actor process is SIGKILLed, Ctrl-C, and `--workers 2` as Ray's own concurrency. Each is checked against Ray's own
experiment state (`ResultGrid`, via the conformance kit) and the processes left on the machine (psutil)."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import psutil
import pytest

from backends.conformance import check_run_invariants
from tests.helpers import Holds, bench, require_package, start_bench

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("ray-tune")]
SLOW_TASK = "backends.conformance:synthetic_with_slow_epochs"  # 0.3 s epochs of 5 batches


@pytest.fixture(autouse=True)
def _ray() -> None:
    require_package("ray", 'the ray-tune backend (pip install -e ".[ray]")')


def _start(tmp_path: Path, *extra: str, holds: Holds, trials: int = 5) -> psutil.Popen:
    return start_bench("run", "--backend", "ray-tune", "--task", SLOW_TASK, "--trials", str(trials), "--max-epochs", "3",
                       "--run-id", "r", "--results-dir", str(tmp_path), "--quiet", *extra, env=holds.env)


def _ray_pids(folder: Path) -> list[int]:
    """Every Ray process the run's sessions started (recorded when each session's Ray came up)."""
    from backends.ray_tune_local import PROCESSES_FILE

    return [int(p["pid"]) for p in json.loads((folder / PROCESSES_FILE).read_text())["processes"]]


def _alive(pids: list[int]) -> list[int]:
    return [p for p in pids if psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE]


def test_sigkill_of_the_command_then_resume_repeats_nothing_and_leaves_no_ray_process(tmp_path: Path) -> None:
    holds = Holds(tmp_path / "holds", (2, 1))
    proc = _start(tmp_path, "--search", "optuna", holds=holds)
    folder = tmp_path / "r"
    held = holds.wait(2, 1)  # the kill lands in the third trial, after its first epoch, in its actor
    first_session = _ray_pids(folder)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    assert _alive([held["pid"]]), "the held trial's actor should outlive its killed driver until the resume stops it"

    result = bench("run", "--resume", "r", "--results-dir", str(tmp_path), "--quiet")
    assert result.returncode == 0, result.stderr
    run = json.loads((folder / "run.json").read_text())
    trials = check_run_invariants(run)  # Ray's ResultGrid agrees with trials.jsonl, trial by trial, states included
    assert run["status"] == "complete" and len(trials) == 5
    assert len({t["backend_trial_id"] for t in trials}) == 5 and sorted(t["number"] for t in trials) == list(range(5))
    killed = [t for t in trials if t["stopped_by"] == "killed"]
    assert [(t["number"], t["backend_trial_id"], t["state"], t["epochs_run"]) for t in killed] == [(2, held["backend_trial_id"], "failed", 1)]
    assert _alive([held["pid"], *first_session, *_ray_pids(folder)]) == []  # the resume stopped what the kill left, then its own


def test_a_killed_trial_actor_is_recorded_failed_and_the_run_goes_on(tmp_path: Path) -> None:
    holds = Holds(tmp_path / "holds", (1, 1))
    proc = _start(tmp_path, holds=holds, trials=4)
    held = holds.wait(1, 1)
    psutil.Process(held["pid"]).send_signal(signal.SIGKILL)  # the trial's Ray worker process, not the command
    holds.release_all()
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err
    run = json.loads((tmp_path / "r" / "run.json").read_text())
    trials = check_run_invariants(run)  # Ray recorded that trial as errored (ActorDiedError), tunebench as failed
    assert len(trials) == 4 and run["status"] == "complete"
    killed = [t for t in trials if t["backend_trial_id"] == held["backend_trial_id"]]
    assert len(killed) == 1 and killed[0]["state"] == "failed" and killed[0]["stopped_by"] == "killed"
    assert sum(t["state"] == "complete" for t in trials) == 3
    assert _alive(_ray_pids(tmp_path / "r")) == []


def test_two_workers_are_rays_own_concurrency_under_one_budget(tmp_path: Path) -> None:
    holds = Holds(tmp_path / "holds", ("*", 1))
    proc = _start(tmp_path, "--workers", "2", "--search", "optuna", holds=holds, trials=4)
    both = holds.wait_for_held(2)  # two trials held at once: Ray ran them side by side, each in its own actor
    assert len({n["pid"] for n in both}) == 2
    holds.release_all()
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err
    run = json.loads((tmp_path / "r" / "run.json").read_text())
    trials = check_run_invariants(run)
    assert len(trials) == 4 and run["budget_spent"]["trials"] == 4 and run["workers"] == 2
    spans = sorted((t["started_at_seconds"], t["finished_at_seconds"]) for t in trials)
    assert any(b[0] < a[1] for a, b in zip(spans, spans[1:])), spans  # some trials overlapped in time


def test_ctrl_c_stops_the_trials_records_them_and_resume_finishes(tmp_path: Path) -> None:
    holds = Holds(tmp_path / "holds", (1, 1))
    proc = _start(tmp_path, holds=holds, trials=3)
    holds.wait(1, 1)
    proc.send_signal(signal.SIGINT)
    holds.release_all()
    proc.communicate(timeout=300)
    assert proc.returncode == 130
    run = json.loads((tmp_path / "r" / "run.json").read_text())
    assert run["status"] == "interrupted"
    trials = [json.loads(line) for line in (tmp_path / "r" / "trials.jsonl").read_text().splitlines()]
    assert [(t["number"], t["state"], t["stopped_by"]) for t in trials] == [(0, "complete", None), (1, "failed", "interrupted")]
    assert _alive(_ray_pids(tmp_path / "r")) == []
    result = bench("run", "--resume", "r", "--results-dir", str(tmp_path), "--quiet")
    assert result.returncode == 0, result.stderr
    run = json.loads((tmp_path / "r" / "run.json").read_text())
    assert len(check_run_invariants(run)) == 3 and run["status"] == "complete"


def test_optuna_search_draws_what_optuna_itself_draws_trial_for_trial(tmp_path: Path) -> None:
    """OptunaSearch seeded as the Optuna backend is, on the same define-by-run space: the same configurations in the same
    order, so the same scores (Keras seeds by trial number); only the cost differs. Read from each backend's records."""
    from backends.conformance import run_in_process

    common = {"trials": 4, "max_epochs": 2, "seed": 3}
    native = run_in_process(tmp_path / "optuna", backend="optuna", algorithm="tpe", **common)
    ray = run_in_process(tmp_path / "ray", backend="ray-tune", algorithm="optuna", **common)
    first = check_run_invariants(native)
    second = sorted(check_run_invariants(ray), key=lambda t: t["number"])
    assert [t["params"] for t in first] == [t["params"] for t in second]
    assert [t["objective"] for t in first] == [t["objective"] for t in second]
