"""One tuning run: config, budget guard, the shared trial harness, training, records and progress.

The public API (what the conformance suite, the speed suite and scripts use):

    from bench.run import Budget, RunConfig, run_tuning
    record = run_tuning(RunConfig(backend="optuna", task="synthetic", budget=Budget(trials=100)))
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bench.run.budget import Budget
    from bench.run.runner import RunConfig

__all__ = ["Budget", "RunConfig", "resume_tuning", "run_tuning"]


def __getattr__(name: str) -> Any:
    """Budget and RunConfig on first use: importing a module of this package (a backend uses the harness, the budget and
    the records) does not import the runner, which imports the backends' registry."""
    if name == "Budget":
        from bench.run.budget import Budget
        return Budget
    if name == "RunConfig":
        from bench.run.runner import RunConfig
        return RunConfig
    raise AttributeError(f"module 'bench.run' has no attribute {name!r}")


def run_tuning(config: RunConfig, *, quiet: bool = True, argv: list[str] | None = None) -> dict[str, Any]:
    """Run one backend on one task under the config's budget, in this process; returns the final run.json record."""
    from bench.run.launch import execute

    return execute(config, argv=argv or ["<api>"], quiet=quiet)


def resume_tuning(run_dir: str | Path, *, quiet: bool = True, argv: list[str] | None = None) -> dict[str, Any]:
    """Continue an interrupted or killed run (its folder) to its budget."""
    from bench.run.launch import resume

    return resume(Path(run_dir), argv=argv or ["<api>"], quiet=quiet)
