"""Run the real `bench run` machinery in-process (TensorFlow is imported once per test session); every run's invariants are checked."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from backends.conformance import check_run_invariants, read_trials, run_in_process  # noqa: F401 - read_trials is shared with the tests here

DATA = Path(__file__).resolve().parent.parent / "data"
TINY = str(DATA / "tiny_space.yaml")  # for the cnn task: trains for real in about a second per epoch


@pytest.fixture
def run_bench(tmp_path):
    def run(*, backend: str = "optuna", task: str = "synthetic", space: str | None = None, **kwargs: Any) -> dict[str, Any]:
        """Synthetic by default (what is tested is not training); `task="cnn", space=TINY` trains for real."""
        result = run_in_process(tmp_path / "results", backend=backend, task=task, space=space, **kwargs)
        check_run_invariants(result)
        return result

    return run

