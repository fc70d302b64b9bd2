"""`bench compare` (run the backend x algorithm x seed matrix, then report) and `bench report`."""

from __future__ import annotations

import argparse
import datetime as dt
import math
import sys
from pathlib import Path
from typing import Any

from bench.cli.flags import add_task_and_budget_flags, positive_int
from bench.errors import UsageError, excerpt
from bench.cli.cells import _run_args, run_matrix
from bench.run.matrix import Cell, plan_cells

__all__ = ["Cell", "_run_args", "plan_cells", "run_matrix", "cmd_compare", "cmd_report", "add_parsers"]


def cmd_compare(args: argparse.Namespace, argv: list[str]) -> int:
    from bench.cli.flags import config_from_args
    from bench.run.runner import prepare

    if args.suite:
        from bench.cli.suite import cmd_suite

        return cmd_suite(args)
    if args.quick or args.reference:
        raise UsageError(f"{'--quick' if args.quick else '--reference'} is for --suite FILE (a comparison across a suite's cases)")
    args.seeds = 3 if args.seeds is None else args.seeds
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
    if not args.quiet:
        print(f"compare: {len(cells)} runs ({len(cells) // args.seeds} backend/algorithm x {args.seeds} seeds), {args.jobs} at a time -> {out}")
    failures = run_matrix(cells, runs_dir, lambda cell: _run_args(args, cell, runs_dir), jobs=args.jobs, quiet=args.quiet)
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
    if len(args.runs) == 1 and (first / "suite.json").is_file():  # a suite's folder: its report over cases, rebuilt
        from bench.cli.suite import print_suite_report, rebuild_suite_report

        if args.out:
            raise UsageError("--out: a suite's report is rebuilt in its own folder (report.html, summary/, cases/*/report/)")
        print_suite_report(rebuild_suite_report(first, allow_mixed=args.allow_mixed), quiet=args.quiet)
        return 0
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
    compare.add_argument("--seeds", type=int, help="N seeds per backend/algorithm: --seed .. --seed+N-1 (default 3, from 0; "
                                                   "--suite: each case's own)")
    compare.add_argument("--suite", metavar="NAME|FILE", help="run every case of a suite (shipped: standard; or a YAML file) for "
                                                              "every algorithm, then aggregate over cases: normalised scores, ranks, "
                                                              "Friedman test, critical differences, performance profiles")
    compare.add_argument("--quick", action="store_true", help="--suite: its quick form (the file's `quick` overrides; for CI)")
    compare.add_argument("--reference", metavar="NAME|BACKEND:NAME",
                         help="--suite: the search that scores 0 in normalised scores (default: random, each backend's own "
                              "random search; BACKEND:NAME for one reference for all); added to the matrix if not listed")
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
