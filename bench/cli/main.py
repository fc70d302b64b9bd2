"""`python -m bench ...`: run, space, list (compare, report and speed live in their own modules)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from bench.cli.flags import OneLineParser, add_task_and_budget_flags
from bench.errors import UsageError, excerpt, one_line


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="python -m bench", description="tunebench: compare hyperparameter-tuning backends fairly.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=OneLineParser)

    run = sub.add_parser("run", help="tune a task (the CNN by default) with one backend under a budget")
    run.add_argument("--backend", help="optuna (default), keras-tuner, or a plugin")
    run.add_argument("--algorithm", "--sampler", "--tuner", "--search", dest="algorithm", help="the backend's algorithm (see `list`)")
    run.add_argument("--pruner", "--scheduler", dest="pruner", help="optuna: none (default), median, hyperband; ray-tune (--scheduler): fifo (default), asha, async-hyperband, median")
    run.add_argument("--run-id", help="name of the run folder (default: time-backend-algorithm-seed)")
    run.add_argument("--resume", metavar="RUN_ID", help="continue an interrupted run (folder name or path) to its budget")
    add_task_and_budget_flags(run)

    space = sub.add_parser("space", help="show or check a search-space file")
    space_sub = space.add_subparsers(dest="space_command", required=True, parser_class=OneLineParser)
    show = space_sub.add_parser("show", help="print the space and each backend's native form")
    show.add_argument("file")
    check = space_sub.add_parser("check", help="validate a space; one line per problem, exit 2 on any")
    check.add_argument("file")

    sub.add_parser("list", help="backends, algorithms, datasets and shipped spaces")

    join = sub.add_parser("join", help="add worker processes on this machine to a running multi-worker run")
    join.add_argument("run", help="the run folder (shared with the machine that started it)")
    join.add_argument("--workers", type=int, default=1, help="worker processes to add (default 1)")
    join.add_argument("--storage", metavar="URL", help="the run's --storage URL again, when it holds a password (never written down)")

    from bench.cli import compare as compare_cli
    from bench.cli import speed as speed_cli

    compare_cli.add_parsers(sub)
    speed_cli.add_parser(sub)
    speed_cli.add_gpu_check_parser(sub)
    return parser


def cmd_run(args: argparse.Namespace, argv: list[str]) -> int:
    from bench.cli.flags import config_from_args, given_fields
    from bench.run.launch import execute, resume
    from bench.run.progress import print_summary
    from bench.run.records import RunFolder

    if args.resume:
        if args.run_id:
            raise UsageError("--resume and --run-id do not go together: a resumed run keeps its id")
        path = Path(args.resume)
        if not _is_dir(path):
            path = Path(args.results_dir) / args.resume
        if not _is_dir(path):
            raise UsageError(f"--resume {excerpt(args.resume)}: no run folder at {excerpt(str(path), 120)}")
        run = resume(path, argv=argv, quiet=args.quiet, verbose=args.verbose, given=given_fields(args))
    else:
        run = execute(config_from_args(args), argv=argv, quiet=args.quiet, verbose=args.verbose)
    if not args.quiet:
        trials, _ = RunFolder(Path(run["folder"])).read_trials()
        print_summary(run, trials)
    return 130 if run["status"] == "interrupted" else 0


def _is_dir(path: Path) -> bool:
    try:
        return path.is_dir()
    except OSError:  # e.g. a name too long for the file system
        return False


def cmd_space(args: argparse.Namespace) -> int:
    from backends.registry import all_backends
    from search_space import SpaceError, dumps, load_space

    try:
        space = load_space(args.file)
    except SpaceError as exc:
        for problem in exc.problems:
            print(f"error: {one_line(problem)}", file=sys.stderr)
        return 2
    backends = all_backends()
    if args.space_command == "check":
        problems = [p for b in backends for p in b.check_space(space)]
        for problem in problems:
            print(f"error: {one_line(f'{args.file}: {problem}')}", file=sys.stderr)
        if not problems:
            print(f"{args.file}: ok ({len(space)} parameters, exact in {', '.join(b.name for b in backends)})")
        return 2 if problems else 0
    _show_space(space, backends, dumps)
    return 0


def _show_space(space: Any, backends: list[Any], dumps: Any) -> None:
    from rich.console import Console
    from rich.table import Table

    from backends.translation import TranslationError
    from backends.translation_table import translation_report

    console = Console(width=max(160, Console().width))
    console.print(f"[bold]{space.name}[/bold]: {space.description}")
    neutral = Table(title="neutral space")
    for col in ("parameter", "type", "domain", "values", "condition"):
        neutral.add_column(col)
    for p in space:
        domain = ", ".join(f"{k}={v}" for k, v in {**vars(p)}.items() if k not in ("name", "when"))
        cond = f"{p.when.parent} in {list(p.when.values)}" if p.when else ""
        neutral.add_row(p.name, p.kind, domain, "continuous" if p.size() is None else str(p.size()), cond)
    console.print(neutral)
    for backend in backends:
        table = Table(title=f"{backend.name}: native form")
        for col in ("parameter", "native form", "values", "note"):
            table.add_column(col, overflow="fold")
        for row in translation_report(space, [backend]):
            form = row.forms[backend.name]
            if isinstance(form, TranslationError):
                table.add_row(row.param.name, "[red]refused[/red]", "-", form.reason)
            else:
                table.add_row(row.param.name, form.text, form.size_text, form.note)
        console.print(table)


def cmd_list() -> int:
    from backends.registry import all_backends
    from bench.task.datasets import DATASET_HELP
    from bench.task.registry import SHIPPED, registered
    from search_space import load_space, shipped_spaces

    backends = all_backends()
    for backend in backends:
        print(f"backend {backend.name}: {backend.description}")
        for i, (name, text) in enumerate(backend.algorithms.items()):
            print(f"  {backend.algorithm_flag} {name}{' (default)' if i == 0 else ''}: {text}")
        for name, text in backend.pruners.items():
            print(f"  {backend.pruner_flag} {name}: {text}")
    print("what each algorithm can search (a run asking for a 'no' is refused; others run as described):")
    print(capability_table(backends))
    print("tasks (--task NAME, or module:attr for your own):")
    for name, shipped in SHIPPED.items():
        print(f"  {name}{' (default)' if name == 'cnn' else ''}: {shipped.summary}; space {shipped.space}")
    for name, target in registered().items():
        print(f"  {name}: installed ({target})")
    from bench.task.mlp_classification import DATASETS

    print("datasets (--dataset, for the cnn task):")
    for name, text in DATASET_HELP.items():
        print(f"  {name}: {text}")
    print("datasets (--dataset, for the mlp-classification task):")
    for name, data in DATASETS.items():
        print(f"  {name}: {data.summary}")
    from bench.suite.spec import load_suite, shipped_suites

    print("shipped suites (compare --suite NAME):")
    for name in shipped_suites():
        suite = load_suite(name)
        print(f"  {name}: {len(suite.cases)} cases ({', '.join(c.name for c in suite.cases)})")
    print("shipped spaces (--space NAME):")
    for name, path in shipped_spaces().items():
        print(f"  {name}: {load_space(path).description}")
    return 0


def capability_table(backends: list[Any]) -> str:
    """One row per backend and algorithm: single objective, multi-objective, conditional and categorical parameters."""
    import pandas as pd

    rows = [{"backend": b.name, "algorithm": name, **b.capabilities_of(name).as_row()} for b in backends for name in b.algorithms]
    return pd.DataFrame(rows).to_markdown(index=False)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.command == "run":
            from bench.run.matrix import die_with_parent

            die_with_parent()  # a run that `compare` started ends with it
            return cmd_run(args, ["-m", "bench", *argv])
        if args.command == "space":
            return cmd_space(args)
        if args.command == "list":
            return cmd_list()
        if args.command == "join":
            from bench.run.coordinator import join

            if args.workers < 1:
                raise UsageError(f"--workers must be a positive integer, but got {args.workers}")
            if not _is_dir(Path(args.run)) or not (Path(args.run) / "run.json").exists():
                raise UsageError(f"{excerpt(args.run)}: no run folder there (give the folder holding run.json)")
            return join(Path(args.run).absolute(), args.workers, args.storage)
        return args.handler(args, ["-m", "bench", *argv])
    except UsageError as exc:
        from bench.run.storage_url import scrub

        print(f"error: {scrub(one_line(str(exc)), getattr(args, 'storage', None))}", file=sys.stderr)  # a password never echoed
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
