"""`bench report`: runs in, tables (md/csv/html), plots (png/svg), Optuna views and report.html out."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from bench.report.load import RunSet, load_runs


@dataclass
class Report:
    out_dir: Path
    runset: RunSet
    summary: pd.DataFrame
    display: pd.DataFrame
    significance: pd.DataFrame
    files: dict[str, list[Path]] = field(default_factory=dict)
    html: Path | None = None
    hypervolume_significance: pd.DataFrame | None = None  # multi-objective runs: paired tests of the hypervolume share


def write_table(table: pd.DataFrame, out_dir: Path, name: str) -> list[Path]:
    paths = [out_dir / f"{name}.md", out_dir / f"{name}.csv", out_dir / f"{name}.html"]
    paths[0].write_text(table.to_markdown(index=False) + "\n", encoding="utf-8")
    table.to_csv(paths[1], index=False)
    paths[2].write_text(table.to_html(index=False, border=0), encoding="utf-8")
    return paths


def build_report(paths: list[str | Path], out_dir: str | Path, *, target: float | None = None, allow_mixed: bool = False,
                 views: bool = True, hv_reference: list[float] | None = None,
                 hv_ideal: list[float] | None = None) -> Report:
    from bench.report.html import write_html
    from bench.report.optuna_views import importance_frame, study_from_trials, write_views
    from bench.report.plots import plot_all
    from bench.report.stats import pairwise_table
    from bench.report.tables import display_table, summary_table

    out = Path(out_dir)
    runset = load_runs(paths, allow_mixed=allow_mixed)
    out.mkdir(parents=True, exist_ok=True)
    objective = runset.objective
    multi = add_hypervolumes(runset, hv_reference, hv_ideal)
    summary = summary_table(runset.runs, runset.trials, target=target, objective=objective)
    display = display_table(summary, target=target, objective=objective)
    higher = objective.direction == "max"
    significance = pairwise_table(runset.runs, "best_objective", higher_is_better=higher, name=f"best {objective.metric}")
    significance_test = pairwise_table(runset.runs, "test_objective", higher_is_better=higher, name=objective.test_metric)
    report = Report(out, runset, summary, display, significance)
    report.files["summary"] = write_table(display, out, "summary")
    report.files["summary_numbers"] = write_table(summary, out, "summary_numbers")
    report.files["significance"] = write_table(significance, out, "significance_val")
    report.files["significance_test"] = write_table(significance_test, out, "significance_test")
    report.files["runs"] = write_table(runset.runs, out, "runs")
    if multi is not None:
        report.hypervolume_significance = pairwise_table(runset.runs, "hypervolume", higher_is_better=True, name="hypervolume share")
        report.files["significance_hypervolume"] = write_table(report.hypervolume_significance, out, "significance_hypervolume")

    per_run: dict[str, dict] = {}
    studies_by_label: dict[str, object] = {}
    for run in runset.raw_runs:
        records = runset.trials_by_run[run["run_id"]]
        if views:
            per_run[run["run_id"]] = write_views(study_from_trials(run["space"], records, run["run_id"], objective),
                                                 out / "optuna_views", run["run_id"], objective.metric)
        if run["label"] not in studies_by_label:  # one study per label, all its seeds pooled, for importances
            pooled = [t for other in runset.raw_runs if other["label"] == run["label"] for t in runset.trials_by_run[other["run_id"]]]
            studies_by_label[run["label"]] = study_from_trials(run["space"], pooled, run["label"], objective)
    plots = plot_all(runset, out / "plots", importance_frame(studies_by_label))
    if multi is not None:
        from bench.report.pareto import plot_fronts

        searches = {run["label"]: str(run.get("search")) for run in runset.raw_runs}
        plots["pareto_fronts"] = plot_fronts(multi.points, multi.objectives, multi.reference, out / "plots",
                                             {label: how.split(":")[0] for label, how in searches.items() if "scalarised" not in label})
        if views:
            from bench.report.optuna_views import write_pareto_view

            for run in runset.raw_runs:
                per_run[run["run_id"]]["pareto_front"] = write_pareto_view(run, runset.trials_by_run[run["run_id"]], multi.objectives,
                                                                           out / "optuna_views")
    report.files.update(plots)
    report.html = write_html(out / "report.html", title="tunebench comparison", summary=display, significance=significance,
                             plots=plots, views=per_run, notes=runset.notes, hypervolume_significance=report.hypervolume_significance)
    return report


@dataclass(frozen=True)
class MultiObjectiveView:
    objectives: tuple
    points: pd.DataFrame
    reference: object


def add_hypervolumes(runset: RunSet, given_reference: list[float] | None,
                     given_ideal: list[float] | None = None) -> MultiObjectiveView | None:
    """For runs that all searched the same several objectives: each run's hypervolume share (a `hypervolume` column),
    against one reference point for all of them, stated in the notes. None for single-objective runs."""
    from bench.errors import UsageError
    from bench.report.pareto import reference_point, run_hypervolumes, trial_points
    from bench.run.objectives import objectives_of_run

    found = {objectives_of_run(run) for run in runset.raw_runs}
    if given_reference is not None and (len(found) != 1 or not next(iter(found))):
        raise UsageError("--hv-reference is for runs that all searched the same several objectives (--objectives)")
    if len(found) != 1 or not next(iter(found)):
        if any(found):
            runset.notes.append("runs searched different objectives: no hypervolumes or Pareto fronts")
        return None
    objectives = next(iter(found))
    for flag, given in (("--hv-reference", given_reference), ("--hv-ideal", given_ideal)):
        if given is not None and len(given) != len(objectives):
            raise UsageError(f"{flag} has {len(given)} values; the runs have {len(objectives)} objectives "
                             f"({', '.join(o.name for o in objectives)})")
    points = trial_points(runset, objectives)
    if points.empty:
        runset.notes.append("no complete trial has every objective: no hypervolumes or Pareto fronts")
        return None
    reference = reference_point(points, objectives, given_reference, given_ideal)
    runset.runs["hypervolume"] = runset.runs["run_id"].map(run_hypervolumes(points, objectives, reference)).fillna(0.0)
    runset.notes.append(
        f"hypervolume share: the volume each run's complete trials dominate up to the reference point ({reference.text(objectives)}; "
        f"{reference.how}), over the volume of the box from the ideal point ({reference.ideal_text(objectives)}) to it; "
        "Optuna's exact computation. Higher is better; 1 would be one trial at the ideal point.")
    for run in runset.raw_runs:
        if str(run.get("search", "")).startswith("scalarised"):
            runset.notes.append(f"{run['label']}: {run['search']}")
            break
    return MultiObjectiveView(objectives, points, reference)

