"""One tuning run: config, budget guard, the shared trial harness, training, records and progress.

The public API (what the conformance suite, the speed suite and scripts use):

    from bench.run import Budget, RunConfig, run_tuning
    record = run_tuning(RunConfig(backend="optuna", task="synthetic", budget=Budget(trials=100)))
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench.run.budget import Budget
from bench.run.runner import RunConfig

__all__ = ["Budget", "RunConfig", "resume_tuning", "run_tuning"]


def run_tuning(config: RunConfig, *, quiet: bool = True, argv: list[str] | None = None) -> dict[str, Any]:
    """Run one backend on one task under the config's budget, in this process; returns the final run.json record."""
    from bench.run.runner import execute

    return execute(config, argv=argv or ["<api>"], quiet=quiet)


def resume_tuning(run_dir: str | Path, *, quiet: bool = True, argv: list[str] | None = None) -> dict[str, Any]:
    """Continue an interrupted or killed run (its folder) to its budget."""
    from bench.run.runner import resume

    return resume(Path(run_dir), argv=argv or ["<api>"], quiet=quiet)
