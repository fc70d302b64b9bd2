"""What `bench run` prints when its output goes to a pipe or a CI log: plain lines, no native start-up chatter."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest

from tests.helpers import ROOT

NATIVE_MARKERS = ("absl::InitializeLog", "cudart_stub", "cpu_feature_guard", "oneDNN")


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("TF_CPP_MIN_LOG_LEVEL", "TERM", "FORCE_COLOR", "TTY_COMPATIBLE")}
    return {**env, "PYTHONPATH": str(ROOT), "CUDA_VISIBLE_DEVICES": "-1"}


def native_start_up_markers() -> list[str]:
    """What importing TensorFlow in a bare Python process writes to stderr on this machine (independent of tunebench)."""
    done = subprocess.run([sys.executable, "-c", "import tensorflow"], env=_env(), capture_output=True, text=True, timeout=300, check=False)
    return [marker for marker in NATIVE_MARKERS if marker in done.stderr]


def _run(tmp_path, run_id: str, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "bench", "run", "--task", "synthetic", "--trials", "4", "--run-id", run_id,
                           "--results-dir", str(tmp_path), *extra], cwd=ROOT, env=_env(), capture_output=True, text=True,
                          timeout=300, check=False)


@pytest.mark.slow
def test_piped_output_is_one_plain_line_per_trial_and_no_native_start_up_lines(tmp_path):
    done = _run(tmp_path, "plain")
    assert done.returncode == 0, done.stderr
    records = [json.loads(line) for line in (tmp_path / "plain" / "trials.jsonl").read_text().splitlines()]
    lines = [line for line in done.stdout.splitlines() if line.startswith("optuna/tpe trial ")]
    assert len(lines) == len(records) == 4
    for n, (line, record) in enumerate(zip(lines, records), start=1):
        match = re.match(rf"optuna/tpe trial {n}/4 (\w+) val_score (\S+) \(best (\S+)\)", line)
        assert match, line
        assert match.group(1) == record["state"]
        shown = match.group(2)
        assert (shown == "-") if record["objective"] is None else abs(float(shown) - record["objective"]) < 1e-3 * max(1, abs(record["objective"]))
    assert "━" not in done.stdout and "\r" not in done.stdout, "no progress bar squeezed into a log"
    markers = native_start_up_markers()
    assert markers, "TensorFlow printed none of its start-up lines here: there is nothing to hold back, and nothing tested"
    assert not [marker for marker in markers if marker in done.stderr], done.stderr


@pytest.mark.slow
def test_verbose_shows_the_native_start_up_lines(tmp_path):
    markers = native_start_up_markers()
    assert markers, "TensorFlow printed none of its start-up lines here: nothing to show"
    done = _run(tmp_path, "loud", "--verbose", "--quiet")
    assert done.returncode == 0, done.stderr
    assert all(marker in done.stderr for marker in markers), (markers, done.stderr[-2000:])
    assert not [line for line in done.stdout.splitlines() if line.startswith("optuna/tpe trial ")], "--quiet still silences progress"
