"""A comparison's matrix: backend x algorithm x seed cells, each one `bench run` in its own process, resumable cell by cell.

A cell whose run completed is kept; one that a kill or Ctrl-C cut short is continued with `bench run --resume`, so
nothing that finished is lost or run twice. Every `bench run` is tied to the process that started it
(`PARENT_VARIABLE`): if the comparison is killed outright, its runs are killed with it, as the runs of a killed
terminal are, and the next `compare` resumes them.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from bench.errors import UsageError

PARENT_VARIABLE = "TUNEBENCH_DIE_WITH_PARENT"  # a `bench run` given this pid dies when that process does (Linux)
RESUMABLE = ("running", "interrupted", "crashed")  # a kill or Ctrl-C, or a run-level error, left these: resumed, not redone


@dataclass(frozen=True)
class Cell:
    backend: str
    algorithm: str
    pruner: str | None
    seed: int

    @property
    def run_id(self) -> str:
        pruner = f"+{self.pruner}" if self.pruner not in (None, "none") else ""
        return f"{self.backend}-{self.algorithm}{pruner}-s{self.seed}"


def parse_algorithm(spec: str, chosen: dict[str, object], flag: str = "--algorithms") -> list[tuple[str, str, str | None]]:
    """(backend, algorithm, pruner) for one 'NAME', 'BACKEND:NAME' or 'BACKEND:NAME+PRUNER' over the chosen backends
    (pruner None for none: `optuna:tpe+none` is the cell `optuna:tpe`)."""
    target, _, algo = spec.rpartition(":")
    algo, _, pruner = algo.partition("+")
    names = [target] if target else [n for n, b in chosen.items() if algo in b.algorithms]  # type: ignore[attr-defined]
    if target and target not in chosen:
        raise UsageError(f"{flag} {spec}: backend '{target}' is not among --backends ({', '.join(chosen)})")
    if not names:
        raise UsageError(f"{flag} {spec}: no chosen backend has an algorithm '{algo}'")
    combos = []
    for name in names:
        backend: object = chosen[name]
        if algo not in backend.algorithms:  # type: ignore[attr-defined]
            raise UsageError(f"{flag} {spec}: {name} has no algorithm '{algo}'; choose one of: {', '.join(backend.algorithms)}")  # type: ignore[attr-defined]
        resolved = backend.pruner_aliases.get(pruner, pruner)  # type: ignore[attr-defined]
        if resolved and resolved not in backend.pruners:  # type: ignore[attr-defined]
            raise UsageError(f"{flag} {spec}: {name} has no {backend.pruner_flag.lstrip('-')} '{resolved}'")  # type: ignore[attr-defined]
        combos.append((name, algo, None if resolved in (None, "", "none") else resolved))
    return combos


def plan_cells(backends: list[str], algorithms: list[str] | None, seeds: int, first_seed: int = 0) -> list[Cell]:
    """The matrix. An algorithm is 'NAME', 'BACKEND:NAME' or 'optuna:NAME+PRUNER'; a bare NAME applies to every backend that has it."""
    from backends.registry import get_backend

    chosen = {name: get_backend(name) for name in backends}
    combos: list[tuple[str, str, str | None]] = []
    if not algorithms:
        combos = [(name, b.default_algorithm, None) for name, b in chosen.items()]
    for spec in algorithms or []:
        combos += parse_algorithm(spec, chosen)
    for name in chosen:
        if not any(c[0] == name for c in combos):
            raise UsageError(f"--algorithms names nothing for backend '{name}'; add e.g. {name}:{chosen[name].default_algorithm}")
    return [Cell(b, a, p, seed) for b, a, p in dict.fromkeys(combos) for seed in range(first_seed, first_seed + seeds)]


def run_status(folder: Path) -> str | None:
    """The status run.json states (None: no run.json, so nothing of the run was recorded)."""
    path = folder / "run.json"
    if not path.exists():
        return None
    try:
        status = json.loads(path.read_text(encoding="utf-8")).get("status")
    except (OSError, ValueError, AttributeError):
        status = None
    if not isinstance(status, str):
        raise UsageError(f"{path}: unreadable, or it states no status; look at that run, or delete its folder to run it again")
    return status


@dataclass(frozen=True)
class CellResult:
    cell: Cell
    code: int
    how: str  # 'ran', 'resumed' or 'already recorded'
    message: str = ""


def run_cells(cells: list[Cell], runs_dir: Path, argv_for: Callable[[Cell], list[str]], *, jobs: int,
              env: dict[str, str]) -> Iterator[CellResult]:
    """Run every cell not already complete under `runs_dir` (`jobs` at a time), in order of the cells."""

    def one(cell: Cell) -> CellResult:
        folder = runs_dir / cell.run_id
        status = run_status(folder)
        if status is not None and status not in RESUMABLE:
            return CellResult(cell, 0, "already recorded")
        argv = argv_for(cell)
        how = "ran"
        if status in RESUMABLE:
            keep = argv[: argv.index("run") + 1]
            argv = [*keep, "--resume", str(folder), "--quiet"]
            how = "resumed"
        elif folder.exists():  # killed before its run.json was written: nothing finished in it
            shutil.rmtree(folder)
        # PR_SET_PDEATHSIG fires when the *thread* that started the child ends: this pool thread waits in subprocess.run
        # until the run has ended, so a run outlives its thread only if the whole comparison died.
        proc = subprocess.run(argv, env={**env, PARENT_VARIABLE: str(os.getpid())}, capture_output=True, text=True, check=False)
        tail = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
        return CellResult(cell, proc.returncode, how, tail[-1] if tail else "")

    pool = ThreadPoolExecutor(max_workers=jobs)
    try:
        yield from pool.map(one, cells)
    except BaseException:  # Ctrl-C (or the caller stopped reading): start no further run; the running ones end on their own
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    pool.shutdown(wait=True)


def die_with_parent() -> None:
    """In a `bench run` a comparison started: be killed when the comparison's process ends (Linux's PR_SET_PDEATHSIG)."""
    expected = os.environ.pop(PARENT_VARIABLE, None)
    if not expected:
        return
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG = 1
    except (OSError, AttributeError):  # not Linux: a killed comparison leaves its runs to finish
        return
    if str(os.getppid()) != expected:  # the comparison died before the line above took effect
        os.kill(os.getpid(), signal.SIGKILL)
