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


def start_bench(*args: str) -> subprocess.Popen:
    """`python -m bench ARGS` started in the background, as `bench` runs it (to be signalled or killed mid-run)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "3"}
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
