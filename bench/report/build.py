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


def write_table(table: pd.DataFrame, out_dir: Path, name: str) -> list[Path]:
    paths = [out_dir / f"{name}.md", out_dir / f"{name}.csv", out_dir / f"{name}.html"]
    paths[0].write_text(table.to_markdown(index=False) + "\n", encoding="utf-8")
    table.to_csv(paths[1], index=False)
    paths[2].write_text(table.to_html(index=False, border=0), encoding="utf-8")
    return paths


def build_report(paths: list[str | Path], out_dir: str | Path, *, target: float | None = None, allow_mixed: bool = False,
                 views: bool = True) -> Report:
    from bench.report.html import write_html
    from bench.report.optuna_views import importance_frame, study_from_trials, write_views
    from bench.report.plots import plot_all
    from bench.report.stats import pairwise_table
    from bench.report.tables import display_table, summary_table

    out = Path(out_dir)
    runset = load_runs(paths, allow_mixed=allow_mixed)
    out.mkdir(parents=True, exist_ok=True)
    objective = runset.objective
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
    report.files.update(plots)
    report.html = write_html(out / "report.html", title="tunebench comparison", summary=display, significance=significance,
                             plots=plots, views=per_run, notes=runset.notes)
    return report

