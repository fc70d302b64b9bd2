"""The `bench run` of one cell of a comparison, and the loop that runs (or resumes) every cell: shared by `compare` and
`compare --suite`."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from bench.cli.flags import forwarded_argv
from bench.run.matrix import Cell, CellResult, run_cells


def _run_args(args: argparse.Namespace, cell: Cell, runs_dir: Path) -> list[str]:
    argv = [sys.executable, "-m", "bench", "run", "--backend", cell.backend, "--algorithm", cell.algorithm, "--seed", str(cell.seed),
            "--run-id", cell.run_id, "--results-dir", str(runs_dir), "--quiet", *forwarded_argv(args, args.forwarded_flags)]
    if cell.pruner:
        argv += ["--pruner", cell.pruner]
    if getattr(args, "verbose", False):
        argv.append("--verbose")
    return argv


def run_environment(concurrent_runs: int) -> dict[str, str]:
    """The environment of each `bench run` a comparison starts: this checkout importable, and how many runs share the machine."""
    from bench.run.runner import CONCURRENT_RUNS_VARIABLE

    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).resolve().parents[2]), os.environ.get("PYTHONPATH", "")]),
            CONCURRENT_RUNS_VARIABLE: str(concurrent_runs)}


def run_matrix(cells: list[Cell], runs_dir: Path, argv_for: Any, *, jobs: int, quiet: bool, indent: str = "  ") -> list[str]:
    """Run (or resume) every cell not yet complete; one line per cell unless `quiet`; the failures, each as one line."""
    failures = []
    result: CellResult
    for result in run_cells(cells, runs_dir, argv_for, jobs=jobs, env=run_environment(min(jobs, len(cells)))):
        ok = result.code == 0
        if not quiet:
            said = {"ran": "ok", "resumed": "resumed, ok"}.get(result.how, result.how) if ok else f"exit {result.code} {result.message}"
            print(f"{indent}{result.cell.run_id}: {said}", flush=True)
        if not ok:
            failures.append(f"{result.cell.run_id} (exit {result.code}{': ' + result.message if result.message else ''})")
    return failures
