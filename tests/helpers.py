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
