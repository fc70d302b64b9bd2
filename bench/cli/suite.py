"""`bench compare --suite FILE`: every case of a suite for every algorithm, resumable case by case, then one report
aggregated over the cases (bench.report.suite_report) beside each case's own."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from bench.errors import UsageError, excerpt
from bench.run.matrix import Cell, parse_algorithm, plan_cells
from bench.suite.spec import BUDGET_KEYS, CASE_OPTION_KEYS, Case, Suite, load_suite

# Flags a suite sets per case (or that mean nothing across cases with different objectives): refused beside --suite.
SET_BY_THE_SUITE = (*CASE_OPTION_KEYS, *BUDGET_KEYS, "seeds")
NOT_ACROSS_CASES = ("target", "objectives", "hv_reference", "hv_ideal", "storage")


def refuse_per_case_flags(args: argparse.Namespace) -> None:
    for key in (*SET_BY_THE_SUITE, *NOT_ACROSS_CASES):
        if getattr(args, key, None) not in (None, False):
            flag = "--" + key.replace("_", "-")
            why = ("each case of the suite sets its own" if key in SET_BY_THE_SUITE
                   else "every case's runs keep a study of their own, in their run folders" if key == "storage"
                   else "its cases have objectives of their own")
            raise UsageError(f"{flag} does not go with --suite: {why}; edit the suite file (or run `compare` without --suite)")


def plan_references(args: argparse.Namespace, cells: list[Cell]) -> tuple[list[Cell], dict[tuple[str, str, str | None], tuple[str, str, str | None]]]:
    """The reference cells (added to the matrix where missing) and, per (backend, algorithm, pruner), its reference."""
    from backends.registry import get_backend

    chosen = {name: get_backend(name) for name in args.backends}
    spec = args.reference or "random"
    references = parse_algorithm(spec, chosen, flag="--reference")
    combos = list(dict.fromkeys([*((c.backend, c.algorithm, c.pruner) for c in cells), *references]))
    if ":" in spec:
        reference_of = {combo: references[0] for combo in combos}
    else:
        by_backend = {r[0]: r for r in references}
        missing = sorted({c.backend for c in cells} - set(by_backend))
        if missing:
            raise UsageError(f"--reference {excerpt(spec)}: backend {missing[0]} has no algorithm '{spec}'; "
                             "name one reference for all, e.g. --reference BACKEND:random")
        reference_of = {combo: by_backend[combo[0]] for combo in combos if combo[0] in {c.backend for c in cells}}
    seeds = sorted({c.seed for c in cells})
    return [Cell(*r, seed) for r in dict.fromkeys(reference_of.values()) for seed in seeds], reference_of


def _case_run_args(args: argparse.Namespace, case: Case, cell: Cell, runs_dir: Path) -> list[str]:
    from bench.cli.cells import _run_args

    return [*_run_args(args, cell, runs_dir), *case.run_flags()]


def _check_case_folder(case_dir: Path, case: Case, run_flags: list[str]) -> None:
    """A case folder holds the runs of one case definition and one set of run flags (--workers, --device, ...): a changed
    one is refused, not mixed in."""
    stored_path = case_dir / "case.json"
    definition = {**case.to_dict(), "run_flags": run_flags}
    if stored_path.exists():
        try:
            stored = json.loads(stored_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            stored = None
        if not isinstance(stored, dict):
            raise UsageError(f"{stored_path}: unreadable; delete it (and that case's runs, if they are not of this definition)")
        if stored != definition:
            changed = sorted(k for k in {*stored, *definition} if stored.get(k) != definition.get(k))
            raise UsageError(f"case {case.name}: {case_dir} holds runs of another definition of it (field '{changed[0]}' "
                             f"was {excerpt(stored.get(changed[0]))}); delete that folder, or pass another --out")
    else:
        case_dir.mkdir(parents=True, exist_ok=True)
        stored_path.write_text(json.dumps(definition, indent=1) + "\n", encoding="utf-8")


def cmd_suite(args: argparse.Namespace) -> int:
    from bench.cli.cells import run_matrix
    from bench.cli.flags import config_from_args
    from bench.run.runner import prepare

    refuse_per_case_flags(args)
    suite = load_suite(args.suite, quick=args.quick)
    first_seed = args.seed or 0
    plans: dict[str, list[Cell]] = {}
    reference_of: dict[tuple[str, str, str | None], tuple[str, str, str | None]] = {}
    for case in suite.cases:
        cells = plan_cells(args.backends, args.algorithms, case.seeds, first_seed)
        reference_cells, reference_of = plan_references(args, cells)
        plans[case.name] = cells + [c for c in reference_cells if c not in cells]
        for combo in dict.fromkeys((c.backend, c.algorithm, c.pruner) for c in plans[case.name]):  # bad specs refused first
            prepare(config_from_args(args, backend=combo[0], algorithm=combo[1], pruner=combo[2], seed=first_seed,
                                     **_case_config(case)))
    out = Path(args.out) if args.out else Path(args.results_dir) / f"suite-{suite.name}{'-quick' if suite.quick else ''}"
    added = sorted({f"{c.backend}/{c.algorithm}" for cells in plans.values() for c in cells} -
                   {f"{c.backend}/{c.algorithm}" for c in plan_cells(args.backends, args.algorithms, 1)})
    if not args.quiet:
        runs = sum(len(c) for c in plans.values())
        print(f"suite {suite.name}{' (quick)' if suite.quick else ''}: {len(suite.cases)} cases, {runs} runs, {args.jobs} at a time -> {out}")
        if added:
            print(f"  reference added to the matrix: {', '.join(added)}")
    from bench.cli.flags import forwarded_argv

    run_flags = forwarded_argv(args, args.forwarded_flags)
    for case in suite.cases:
        _check_case_folder(out / "cases" / case.name, case, run_flags)
    (out / "suite.json").write_text(json.dumps({
        "suite": suite.to_dict(), "backends": args.backends, "algorithms": args.algorithms, "reference": args.reference or "random",
        "plans": {name: [[c.backend, c.algorithm, c.pruner, c.seed] for c in cells] for name, cells in plans.items()},
        "reference_of": [[list(combo), list(reference)] for combo, reference in reference_of.items()],
    }, indent=1) + "\n", encoding="utf-8")
    failures: list[str] = []
    for case in suite.cases:
        runs_dir = out / "cases" / case.name / "runs"
        runs_dir.mkdir(parents=True, exist_ok=True)
        if not args.quiet:
            print(f"case {case.name}:", flush=True)
        failures += [f"{case.name}/{f}" for f in run_matrix(plans[case.name], runs_dir, lambda cell, case=case, runs_dir=runs_dir:
                                                            _case_run_args(args, case, cell, runs_dir), jobs=args.jobs, quiet=args.quiet)]
    if failures:
        print(f"error: {len(failures)} run(s) failed: {'; '.join(failures)}", file=sys.stderr)
    print_suite_report(report_suite(suite, plans, reference_of, out, allow_mixed=args.allow_mixed), quiet=args.quiet)
    return 1 if failures else 0


def print_suite_report(report: Any, *, quiet: bool) -> None:
    if not quiet:
        print()
        print(report.summary.to_markdown(index=False, floatfmt=".3g"))
        print()
        print(report.ranks.to_markdown(index=False, floatfmt=".3g"))
        print(f"\nFriedman: {report.friedman.verdict}")
    for note in report.notes:
        print(f"note: {note}", file=sys.stderr)
    print(f"report: {report.html}")


def rebuild_suite_report(out: Path, *, allow_mixed: bool = False) -> Any:
    """`bench report SUITE_FOLDER`: the suite's report again, from suite.json and the recorded runs alone."""
    from dataclasses import fields

    try:
        stored = json.loads((out / "suite.json").read_text(encoding="utf-8"))
        suite = Suite(**{**stored["suite"], "cases": tuple(
            Case(**{f.name: case[f.name] for f in fields(Case) if f.name in case}) for case in stored["suite"]["cases"])})
        plans = {name: [Cell(*cell) for cell in cells] for name, cells in stored["plans"].items()}
        reference_of = {tuple(combo): tuple(reference) for combo, reference in stored["reference_of"]}
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise UsageError(f"{out / 'suite.json'}: unreadable ({type(exc).__name__}); run the suite's `compare --suite` command "
                         "again to rewrite it") from None
    return report_suite(suite, plans, reference_of, out, allow_mixed=allow_mixed)


def _case_config(case: Case) -> dict[str, Any]:
    return {**{k: getattr(case, k) for k in CASE_OPTION_KEYS if getattr(case, k) is not None}, **dict(case.budget)}


def report_suite(suite: Suite, plans: dict[str, list[Cell]], reference_of: dict[Any, Any], out: Path, *, allow_mixed: bool) -> Any:
    """Each case's own report (tables and plots of today's `compare`), then the summary over cases."""
    from bench.report.build import build_report
    from bench.report.suite_report import build_suite_report

    runsets, reports, rows, notes = {}, {}, [], []
    for case in suite.cases:
        runs_dir = out / "cases" / case.name / "runs"
        folders = [runs_dir / c.run_id for c in plans[case.name] if (runs_dir / c.run_id / "run.json").exists()]
        if not folders:
            notes.append(f"case {case.name}: no run recorded; left out")
            continue
        report = build_report(folders, out / "cases" / case.name / "report", allow_mixed=allow_mixed, views=False)
        notes += [f"case {case.name}: {n}" for n in report.runset.notes]
        runsets[case.name], reports[case.name] = report.runset, report.html
        first = report.runset.raw_runs[0]
        rows.append({"case": case.name, "task": first["task"]["name"], "data": first["task"]["dataset"]["name"],
                     "objective": f"{report.runset.objective.metric} ({report.runset.objective.direction})",
                     "budget": ", ".join(f"{k} {v}" for k, v in first["budget"].items() if v is not None),
                     "seeds": case.seeds, "runs": len(folders)})
    if not runsets:
        raise UsageError(f"suite {suite.name}: no case has a recorded run; nothing to report")
    labels = {}
    for runset in runsets.values():
        for run in runset.raw_runs:
            labels[(run["backend"], run["algorithm"], run.get("pruner") if run.get("pruner") not in (None, "none") else None)] = run["label"]
    reference_labels = {}
    for combo, reference in reference_of.items():
        key = (combo[0], combo[1], combo[2] if combo[2] not in (None, "none") else None)
        ref_key = (reference[0], reference[1], reference[2] if reference[2] not in (None, "none") else None)
        if key in labels and ref_key in labels:
            reference_labels[labels[key]] = labels[ref_key]
    for label, reference in sorted(reference_labels.items()):
        if label != reference:
            notes.append(f"{label}: normalised against {reference}")
    if len(set(reference_labels.values())) > 1:
        notes.append(f"the normalised scores of different backends are measured from different references "
                     f"({', '.join(sorted(set(reference_labels.values())))}): compare scores within a backend, read the ranks "
                     "across backends, or pass --reference BACKEND:random for one scale")
    return build_suite_report(runsets, reference_labels, out, case_rows=rows, case_reports=reports,
                              title=f"tunebench suite {suite.name}{' (quick)' if suite.quick else ''}: {len(runsets)} cases", notes=notes)
