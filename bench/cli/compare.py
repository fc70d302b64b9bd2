"""`bench compare` (run the backend x algorithm x seed matrix, then report) and `bench report`."""

from __future__ import annotations

import argparse
import datetime as dt
import math
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.cli.flags import add_task_and_budget_flags, forwarded_argv, positive_int
from bench.errors import UsageError, excerpt


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


def plan_cells(backends: list[str], algorithms: list[str] | None, seeds: int, first_seed: int = 0) -> list[Cell]:
    """The matrix. An algorithm is 'NAME', 'BACKEND:NAME' or 'optuna:NAME+PRUNER'; a bare NAME applies to every backend that has it."""
    from backends.registry import get_backend

    chosen = {name: get_backend(name) for name in backends}
    combos: list[tuple[str, str, str | None]] = []
    if not algorithms:
        combos = [(name, b.default_algorithm, None) for name, b in chosen.items()]
    for spec in algorithms or []:
        target, _, algo = spec.rpartition(":")
        algo, _, pruner = algo.partition("+")
        names = [target] if target else [n for n, b in chosen.items() if algo in b.algorithms]
        if target and target not in chosen:
            raise UsageError(f"--algorithms {spec}: backend '{target}' is not among --backends ({', '.join(backends)})")
        if not names:
            raise UsageError(f"--algorithms {spec}: no chosen backend has an algorithm '{algo}'")
        for name in names:
            backend = chosen[name]
            if algo not in backend.algorithms:
                raise UsageError(f"--algorithms {spec}: {name} has no algorithm '{algo}'; choose one of: {', '.join(backend.algorithms)}")
            pruner = backend.pruner_aliases.get(pruner, pruner)
            if pruner and pruner not in backend.pruners:
                raise UsageError(f"--algorithms {spec}: {name} has no {backend.pruner_flag.lstrip('-')} '{pruner}'")
            combos.append((name, algo, pruner or None))
    for name in chosen:
        if not any(c[0] == name for c in combos):
            raise UsageError(f"--algorithms names nothing for backend '{name}'; add e.g. {name}:{chosen[name].default_algorithm}")
    return [Cell(b, a, p, seed) for b, a, p in dict.fromkeys(combos) for seed in range(first_seed, first_seed + seeds)]


def _run_args(args: argparse.Namespace, cell: Cell, runs_dir: Path) -> list[str]:
    argv = [sys.executable, "-m", "bench", "run", "--backend", cell.backend, "--algorithm", cell.algorithm, "--seed", str(cell.seed),
            "--run-id", cell.run_id, "--results-dir", str(runs_dir), "--quiet", *forwarded_argv(args, args.forwarded_flags)]
    if cell.pruner:
        argv += ["--pruner", cell.pruner]
    if getattr(args, "verbose", False):
        argv.append("--verbose")
    return argv


def cmd_compare(args: argparse.Namespace, argv: list[str]) -> int:
    from bench.cli.flags import config_from_args
    from bench.run.runner import CONCURRENT_RUNS_VARIABLE, prepare

    if args.seeds < 1:
        raise UsageError(f"--seeds must be at least 1, but got {args.seeds}")
    first_seed = args.seed or 0
    cells = plan_cells(args.backends, args.algorithms, args.seeds, first_seed)
    from bench.task.registry import check_reference

    check_reference(args.task or "cnn")  # a task name that names nothing is refused before any run starts
    for cell in {(c.backend, c.algorithm, c.pruner) for c in cells}:  # refuse bad specs (budget included) before spending anything
        prepare(config_from_args(args, backend=cell[0], algorithm=cell[1], pruner=cell[2], seed=first_seed + args.seeds - 1))
    out = Path(args.out) if args.out else Path(args.results_dir) / f"compare-{dt.datetime.now():%Y%m%d-%H%M%S}"
    runs_dir = out / "runs"
    runs_dir.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).resolve().parents[2]), os.environ.get("PYTHONPATH", "")]),
           CONCURRENT_RUNS_VARIABLE: str(min(args.jobs, len(cells)))}

    def run_cell(cell: Cell) -> tuple[Cell, int, str]:
        if (runs_dir / cell.run_id / "run.json").exists():
            return cell, 0, "already recorded"
        proc = subprocess.run(_run_args(args, cell, runs_dir), env=env, capture_output=True, text=True, check=False)
        tail = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
        return cell, proc.returncode, tail[-1] if tail else ""

    if not args.quiet:
        print(f"compare: {len(cells)} runs ({len(cells) // args.seeds} backend/algorithm x {args.seeds} seeds), {args.jobs} at a time -> {out}")
    failures = []
    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        for cell, code, message in pool.map(run_cell, cells):
            if not args.quiet:
                print(f"  {cell.run_id}: {'ok' if code == 0 else f'exit {code} {message}'}", flush=True)
            if code != 0:
                failures.append(f"{cell.run_id} (exit {code}{': ' + message if message else ''})")
    if failures:
        print(f"error: {len(failures)} run(s) failed: {'; '.join(failures)}", file=sys.stderr)
        if len(failures) < len(cells):
            _report([runs_dir], out, args)
        return 1
    return _report([runs_dir], out, args)


def _report(paths: list[Path], out: Path, args: argparse.Namespace) -> int:
    from bench.report.build import build_report

    report = build_report(paths, out, target=args.target, allow_mixed=args.allow_mixed, hv_reference=getattr(args, "hv_reference", None),
                          hv_ideal=getattr(args, "hv_ideal", None))
    for note in report.runset.notes:
        print(f"note: {note}", file=sys.stderr)
    if not getattr(args, "quiet", False):
        print(report.display.to_markdown(index=False))
        print()
        print(report.significance.to_markdown(index=False))
        if report.hypervolume_significance is not None:
            print()
            print(report.hypervolume_significance.to_markdown(index=False))
        print(f"\nreport: {report.html}")
    return 0


def cmd_report(args: argparse.Namespace, argv: list[str]) -> int:
    first = Path(args.runs[0])
    if args.out:
        out = Path(args.out)
    elif len(args.runs) == 1 and not (first / "run.json").exists():
        out = first / "report"
    else:
        out = Path("results") / "report"
    return _report([Path(p) for p in args.runs], out, args)


def _target(text: str) -> float:
    """A finite objective value (an accuracy for the cnn task; any scale for others, e.g. an MSE)."""
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite objective value (e.g. 0.9 for accuracy), got {excerpt(text)}")
    return value


def _reference(text: str) -> list[float]:
    """A hypervolume reference point: one finite value per objective, in --objectives order."""
    try:
        values = [float(v) for v in text.split(",")]
    except ValueError:
        values = []
    if not values or not all(math.isfinite(v) for v in values):
        raise argparse.ArgumentTypeError(f"expected one number per objective, comma-separated (e.g. 0.5,200000), got {excerpt(text)}")
    return values


HV_IDEAL_HELP = ("with --hv-reference: the ideal point, the box's other corner that scales hypervolumes to a share (default: "
                 "each objective's natural best: accuracies 1; params, seconds, losses and errors 0)")
HV_HELP = ("multi-objective runs: the hypervolume reference point, one value per objective in --objectives order "
           "(default: each objective's worst value over the runs, 10%% of its range beyond)")


def add_parsers(sub: Any) -> None:
    compare = sub.add_parser("compare", help="run backends x algorithms x seeds under one budget, then report")
    compare.add_argument("--backends", nargs="+", default=["optuna", "keras-tuner"], help="backends to compare (default: optuna keras-tuner)")
    compare.add_argument("--algorithms", nargs="+", help="NAME, BACKEND:NAME or optuna:NAME+PRUNER (default: each backend's default)")
    compare.add_argument("--seeds", type=int, default=3, help="N seeds per backend/algorithm: --seed .. --seed+N-1 (default 3, from 0)")
    compare.add_argument("--jobs", type=positive_int, default=1, help="runs at once (default 1; more distorts timings on few cores)")
    compare.add_argument("--out", help="folder for runs and report (default results/compare-TIME)")
    compare.add_argument("--target", type=_target, help="objective value whose time-to-reach is tabulated (reached: at least it when maximised, at most when minimised)")
    compare.add_argument("--allow-mixed", action="store_true", help="report runs with different tasks or budgets together")
    compare.add_argument("--hv-reference", type=_reference, metavar="V1,V2,...", help=HV_HELP)
    compare.add_argument("--hv-ideal", type=_reference, metavar="V1,V2,...", help=HV_IDEAL_HELP)
    compare.set_defaults(handler=cmd_compare, forwarded_flags=add_task_and_budget_flags(compare))

    report = sub.add_parser("report", help="rebuild tables, plots and report.html from recorded runs")
    report.add_argument("runs", nargs="+", help="run folders, or folders holding run folders")
    report.add_argument("--out", help="where the report goes (default: RUNS_DIR/report for one folder of runs)")
    report.add_argument("--target", type=_target, help="objective value whose time-to-reach is tabulated (reached: at least it when maximised, at most when minimised)")
    report.add_argument("--allow-mixed", action="store_true", help="report runs with different tasks or budgets together")
    report.add_argument("--hv-reference", type=_reference, metavar="V1,V2,...", help=HV_HELP)
    report.add_argument("--hv-ideal", type=_reference, metavar="V1,V2,...", help=HV_IDEAL_HELP)
    report.add_argument("--quiet", action="store_true")
    report.set_defaults(handler=cmd_report)
