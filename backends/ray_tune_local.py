"""A run's own local Ray: started for the run (no dashboard, its logs kept in the run folder), stopped when it ends
(success, error or Ctrl-C), and whatever a killed session of the run left running stopped before a resume."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

PROCESSES_FILE = "ray_processes.json"  # in the run folder: the pids (and start times) of the Ray processes a session started
LOGS_DIR = "ray_logs"  # in the run folder: Ray's session logs, copied when the session ends
# Ray's AF_UNIX socket paths must stay under 107 bytes: its temporary folder is a short one of its own, not the run folder.
TEMP_PREFIX = "/tmp/tbray-"

# Set before Ray starts (its processes inherit them): no usage report, trials stay in the run's working directory, and
# the experiment's state saved every second, so that a resume after SIGKILL repeats no finished trial.
RAY_ENVIRONMENT = {
    "RAY_USAGE_STATS_ENABLED": "0",
    "RAY_CHDIR_TO_TRIAL_DIR": "0",
    "TUNE_GLOBAL_CHECKPOINT_S": "1",
    "RAY_AIR_NEW_OUTPUT": "0",
    "TUNE_DISABLE_AUTO_CALLBACK_LOGGERS": "0",
    "RAY_DEDUP_LOGS": "0",
}


def _process_tree(pid: int, started: float | None) -> list[Any]:
    """The process `pid` (if it still is the one that started at `started`) and all its descendants."""
    import psutil

    try:
        process = psutil.Process(pid)
        if started is not None and abs(process.create_time() - started) > 1.0:
            return []  # the pid was reused by another process
        return [process, *process.children(recursive=True)]
    except psutil.Error:
        return []


def kill_processes(entries: list[dict[str, Any]]) -> int:
    """SIGKILL every recorded process still alive (with its descendants: Ray's workers are the raylet's children);
    returns how many were killed."""
    import psutil

    targets: dict[int, Any] = {}
    for entry in entries:
        for process in _process_tree(int(entry["pid"]), entry.get("started")):
            targets[process.pid] = process
    for process in targets.values():
        with contextlib.suppress(psutil.Error):
            process.send_signal(signal.SIGKILL)
    psutil.wait_procs(list(targets.values()), timeout=10)
    return len(targets)


def stop_leftovers(run_dir: Path) -> int:
    """Before a resume: stop the Ray processes that a killed session of this run left running (recorded when they started),
    and their trial processes; returns how many were stopped."""
    path = run_dir / PROCESSES_FILE
    if not path.exists():
        return 0
    entries = json.loads(path.read_text(encoding="utf-8"))
    killed = kill_processes(entries.get("processes") or [])
    for temp in entries.get("temp_dirs") or []:
        shutil.rmtree(temp, ignore_errors=True)
    return killed


def _record_processes(run_dir: Path, temp_dir: str) -> None:
    import psutil

    path = run_dir / PROCESSES_FILE
    previous = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    children = [{"pid": p.pid, "started": p.create_time(), "name": p.name()} for p in psutil.Process().children(recursive=True)]
    path.write_text(json.dumps({"processes": children, "temp_dirs": sorted({*previous.get("temp_dirs", []), temp_dir})}, indent=2))


@contextlib.contextmanager
def local_ray(run_dir: Path, *, cpus: int, gpus: int) -> Iterator[str]:
    """A local Ray of `cpus` logical CPUs (one per concurrent trial) and `gpus` GPUs for the run; stopped when the block
    ends, however it ends. Yields Ray's temporary folder."""
    os.environ.update(RAY_ENVIRONMENT)
    import logging

    import ray

    # Ray's ResultGrid warns about each trial it created but never started (stopped at the budget, no results): not news.
    logging.getLogger("ray.tune.analysis.experiment_analysis").setLevel(logging.ERROR)
    # Ray 2.60 turns token authentication on for a local cluster (a token in ~/.ray/auth_token) and says so on every start.
    logging.getLogger("ray._private.authentication.authentication_token_setup").setLevel(logging.ERROR)
    # A failed trial is recorded with its error (trials.jsonl, and Ray's own error.txt in its folder): not also a traceback
    # of forty lines on the terminal for each one.
    controller = logging.getLogger("ray.tune.execution.tune_controller")
    if not any(isinstance(f, _TrialFailureFilter) for f in controller.filters):
        controller.addFilter(_TrialFailureFilter())
    temp_dir = TEMP_PREFIX + secrets.token_hex(4)
    try:
        ray.init(address="local", num_cpus=cpus, num_gpus=gpus, include_dashboard=False, _temp_dir=temp_dir, log_to_driver=False,
                 configure_logging=False)
        _record_processes(run_dir, temp_dir)
        yield temp_dir
    finally:
        with contextlib.suppress(Exception):
            ray.shutdown()
        path = run_dir / PROCESSES_FILE
        if path.exists():  # what ray.shutdown left (its workers end by themselves within seconds; none may outlive the run)
            kill_processes(json.loads(path.read_text(encoding="utf-8")).get("processes") or [])
        _keep_logs(Path(temp_dir), run_dir / LOGS_DIR)
        shutil.rmtree(temp_dir, ignore_errors=True)


class _TrialFailureFilter:
    """Drops Ray's log record of each failed trial (its message and traceback); keeps everything else it says."""

    def filter(self, record: Any) -> bool:
        return not str(record.msg).startswith("Trial task failed")


def _keep_logs(temp_dir: Path, target: Path) -> None:
    """Ray's session logs (raylet, GCS, each worker's output) into the run folder."""
    for session in sorted(temp_dir.glob("session_2*")):
        logs = session / "logs"
        if logs.is_dir():
            shutil.copytree(logs, target / session.name, dirs_exist_ok=True, ignore=shutil.ignore_patterns("*.sock", "events"))
