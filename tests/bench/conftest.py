"""Run the real `bench run` machinery in-process (TensorFlow is imported once per test session)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from backends.conformance import read_trials  # noqa: F401 - shared with the tests here
from bench.budget import Budget
from bench.runner import RunConfig, execute

DATA = Path(__file__).resolve().parent.parent / "data"
TINY = str(DATA / "tiny_space.yaml")


@pytest.fixture
def run_bench(tmp_path):
    def run(*, backend: str = "optuna", trials: int | None = 2, max_epochs: int = 2, epoch_budget: int | None = None,
            time_budget: float | None = None, space: str = TINY, train_subset: int | None = 200, **kwargs: Any) -> dict[str, Any]:
        config = RunConfig(
            backend=backend, space=space, train_subset=train_subset, results_dir=str(tmp_path / "results"),
            budget=Budget(trials=trials, max_epochs=max_epochs, epoch_budget=epoch_budget, time_budget=time_budget), **kwargs,
        )
        return execute(config, argv=["test"], quiet=True)

    return run
