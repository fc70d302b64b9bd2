"""Run the real CLI in a subprocess, as a user would."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def bench(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
    full_env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""), "TF_CPP_MIN_LOG_LEVEL": "3", **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "bench", *args], cwd=cwd or ROOT, env=full_env, capture_output=True, text=True, timeout=timeout, check=False,
    )


def error_lines(stderr: str) -> list[str]:
    """stderr without TensorFlow's C++ start-up chatter."""
    noise = ("WARNING: All log messages before absl", "I0000", "E0000", "W0000")
    return [line for line in stderr.splitlines() if line.strip() and not line.startswith(noise)]


def start_bench(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen:
    """`python -m bench ARGS` started in the background, as `bench` runs it (to be signalled or killed mid-run)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "3", **(env or {})}
    return subprocess.Popen([sys.executable, "-m", "bench", *args], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def wait_for(predicate, timeout: float = 240.0, every: float = 0.02) -> None:
    """Poll `predicate` until it holds (a file still being written may raise meanwhile); AssertionError on timeout."""
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if predicate():
                return
        except (OSError, ValueError, KeyError):
            pass
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout} s")


def running_trial_when(path: Path, *, number: int | None = None, epochs: int = 1, timeout: float = 240.0) -> dict:
    """The running-trial checkpoint at `path` once it shows trial `number` (any, if None) with `epochs` epochs done."""
    import json

    def ready() -> bool:
        running = json.loads(path.read_text())
        return (number is None or running["number"] == number) and running["epochs_run"] >= epochs

    wait_for(ready, timeout, every=0.01)
    return json.loads(path.read_text())


def require_package(package: str, why: str) -> None:
    """Skip without `package`; in CI (which installs it) fail instead."""
    import importlib.util

    import pytest

    if importlib.util.find_spec(package) is not None:
        return
    if os.environ.get("CI"):
        pytest.fail(f"CI installs {package} ({why}); it is missing")
    pytest.skip(f"{package} is not installed here ({why})")


class Holds:
    """Hold points for the runs a test starts (bench.run.hold): trial N stops after its epoch K until the test releases it,
    so a SIGKILL, a Ctrl-C or a worker joining happens at that point, whatever the machine's load."""

    def __init__(self, folder: Path, *points: tuple[int | str, int]) -> None:
        """`points`: (trial number, epoch) pairs; "*" for the trial number holds every trial after that epoch."""
        self.folder = folder
        self.points = points
        folder.mkdir(parents=True, exist_ok=True)

    @property
    def env(self) -> dict[str, str]:
        """The environment that sets the hold points of a `bench` command (its workers and `bench join` inherit it)."""
        from bench.run.hold import HOLD_AT_VARIABLE, HOLD_DIR_VARIABLE

        return {HOLD_AT_VARIABLE: ",".join(f"{n}:{k}" for n, k in self.points), HOLD_DIR_VARIABLE: str(self.folder)}

    def wait(self, trial: int, epoch: int, timeout: float = 600.0) -> dict:
        """Once trial `trial` is held after epoch `epoch`: who holds it (pid, worker, backend trial id)."""
        import json

        path = self.folder / f"held-{trial}-{epoch}.json"
        wait_for(path.exists, timeout, every=0.02)
        return json.loads(path.read_text())

    def wait_for_held(self, count: int, timeout: float = 600.0) -> list[dict]:
        """Once `count` trials are held at once (each held file is a trial waiting): who holds them, in trial order."""
        import json

        wait_for(lambda: len(list(self.folder.glob("held-*.json"))) >= count, timeout, every=0.02)
        return sorted((json.loads(p.read_text()) for p in self.folder.glob("held-*.json")), key=lambda n: n["trial"])

    def wait_for_worker(self, worker: str, timeout: float = 600.0) -> dict:
        """Once a trial of `worker` is held: who holds it."""
        import json

        def held() -> list[dict]:
            return [note for p in self.folder.glob("held-*.json") if (note := json.loads(p.read_text()))["worker"] == worker]

        wait_for(lambda: bool(held()), timeout, every=0.05)
        return held()[0]

    def release(self, trial: int, epoch: int) -> None:
        (self.folder / f"release-{trial}-{epoch}").touch()

    def release_all(self) -> None:
        from bench.run.hold import RELEASE_ALL

        (self.folder / RELEASE_ALL).touch()
