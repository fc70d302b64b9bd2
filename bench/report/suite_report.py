"""The cross-case report of `compare --suite`: summary tables, a critical-difference diagram, performance profiles, and
one report.html that links each case's own report."""

from __future__ import annotations

import html
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from bench.report import aggregate
from bench.report.build import write_table
from bench.report.load import RunSet
from bench.report.plots import _plt, save

PROFILE_TARGETS = (0.5, 0.9, 1.0)  # the targets drawn (the table has every one of aggregate.TARGETS)

GUIDE = """
<p><b>How to read this summary.</b> Every case is one problem (task, data, space, budget); every algorithm ran on it
once per seed under that case's budget. <i>Normalised score</i>: per case, (best value - reference) / (case best -
reference), where the reference is the mean over seeds of the reference search's best value (stated per row) and the case
best is the best value any run of the case reached; 1 is the best seen, 0 the reference's average, below 0 worse than
it. Each algorithm's score is averaged over its seeds, then over cases. <i>Ranks</i>: per case, the algorithms' mean best
values (in the case's own direction) are ranked, 1 best, ties sharing their mean rank. The Friedman test (chi-square,
corrected for ties; and Iman and Davenport's F) asks whether the mean ranks differ more than chance would make them; the
critical difference (Nemenyi, alpha 0.05) is the gap in mean rank beyond which two algorithms differ. In the diagram,
algorithms joined by a bar do not differ significantly (Nemenyi p-values from scikit-posthocs). <i>Performance
profiles</i>: for a target share t of the gap from the reference to the case best, the share of (case, seed) pairs whose
best-so-far value had reached it, against wall seconds since each run's start and against epochs spent. Each case's own
report (tables, plots, paired tests over seeds) is linked from the cases table.</p>
"""


@dataclass
class SuiteReport:
    out_dir: Path
    scores: pd.DataFrame  # per run
    summary: pd.DataFrame  # per label
    ranks: pd.DataFrame  # cases x labels, with the mean rank
    friedman: aggregate.FriedmanResult
    events: pd.DataFrame
    notes: list[str]
    files: dict[str, list[Path]] = field(default_factory=dict)
    html: Path | None = None


def build_suite_report(cases: Mapping[str, RunSet], reference_of: Mapping[str, str], out_dir: Path, *,
                       case_rows: list[dict[str, Any]], case_reports: Mapping[str, Path], title: str,
                       notes: list[str]) -> SuiteReport:
    """Aggregate the cases' runs into OUT/summary/ (tables, plots) and OUT/report.html."""
    out = Path(out_dir)
    summary_dir = out / "summary"
    summary_dir.mkdir(parents=True, exist_ok=True)
    notes = list(notes)
    results = aggregate.results_table(cases)
    scored = aggregate.normalised_scores(results, reference_of)
    unscored = scored[scored["score"].isna() & scored["best"].notna()].drop_duplicates(["case", "label"])
    for row in unscored.itertuples():
        why = ("its reference has no value there" if pd.isna(row.reference)
               else f"its reference {row.reference_label} reached the case's best on average, leaving no gap to close")
        notes.append(f"{row.label} on case {row.case}: no normalised score ({why})")
    summary = aggregate.score_summary(scored)
    values = aggregate.case_values(results)
    missing = values.isna().stack(future_stack=True)
    for case, label in missing[missing].index:
        notes.append(f"{label} on case {case}: no complete trial in any seed; ranked last there")
    values = values.fillna(float("-inf"))  # a search that found nothing is ranked below every one that found something
    no_result = scored[scored["best"].isna()]
    for (case, label), group in no_result.groupby(["case", "label"]):
        notes.append(f"{label} on case {case}: {len(group)} run(s) without a complete trial, left out of its mean score")
    result = aggregate.friedman(values)
    ranks = aggregate.average_ranks(values)
    rank_table = ranks.T.assign(**{"mean rank": ranks.mean()}).sort_values("mean rank", kind="stable")
    rank_table = rank_table[["mean rank", *ranks.index]].rename(columns={c: f"rank {c}" for c in ranks.index})
    rank_table = rank_table.rename_axis(index="label", columns=None).reset_index()
    friedman_table = pd.DataFrame([{
        "algorithms": result.algorithms, "cases": result.cases, "Friedman chi2": result.statistic, "p": result.p_value,
        "Iman-Davenport F": result.iman_davenport, "F p": result.iman_davenport_p,
        f"critical difference (Nemenyi, alpha={result.alpha})": result.critical_difference, "verdict": result.verdict}])
    events = aggregate.reach_events(cases, scored)
    reach = aggregate.reach_table(events)
    report = SuiteReport(out, scored, summary, rank_table, result, events, notes)
    files = report.files
    files["normalised_scores"] = write_table(summary, summary_dir, "normalised_scores")
    files["scores_per_run"] = write_table(scored, summary_dir, "scores_per_run")
    files["ranks"] = write_table(rank_table, summary_dir, "ranks")
    files["friedman"] = write_table(friedman_table, summary_dir, "friedman")
    files["reach"] = write_table(reach, summary_dir, "profile_reach")
    nemenyi = None
    if result.algorithms >= 2 and result.cases >= 2:
        nemenyi = aggregate.nemenyi_p_values(values)
        files["nemenyi"] = write_table(nemenyi.rename_axis("label").reset_index(), summary_dir, "nemenyi_p")
        files["critical_difference"] = plot_critical_difference(result, nemenyi, summary_dir / "plots")
    else:
        notes.append("no critical-difference diagram: it needs at least 2 algorithms and 2 cases where every one has a value")
    for axis in ("seconds", "epochs"):
        files[f"profile_{axis}"] = write_table(aggregate.profile(events, axis), summary_dir, f"profile_{axis}")
    files["performance_profiles"] = plot_profiles(events, summary_dir / "plots")
    report.html = write_suite_html(out / "report.html", title=title, case_rows=case_rows, case_reports=case_reports,
                                   summary=summary, ranks=rank_table, friedman=friedman_table, nemenyi=nemenyi, reach=reach,
                                   plots={k: v for k, v in files.items() if k in ("critical_difference", "performance_profiles")},
                                   notes=notes)
    return report


def plot_critical_difference(result: aggregate.FriedmanResult, p_values: pd.DataFrame, out_dir: Path) -> list[Path]:
    """Demšar's diagram: mean ranks on an axis, bars joining algorithms that do not differ (scikit-posthocs draws it)."""
    import scikit_posthocs

    plt = _plt()
    fig, ax = plt.subplots(figsize=(8, 1.2 + 0.35 * result.algorithms))
    scikit_posthocs.critical_difference_diagram(result.mean_ranks, p_values, ax=ax, alpha=result.alpha,
                                                cd=result.critical_difference if result.algorithms > 1 else None)
    ax.set_title(f"mean rank over {result.cases} cases (1 best); bars: no significant difference (Nemenyi, alpha={result.alpha})",
                 fontsize=9, pad=28)
    return save(fig, out_dir, "critical_difference")


def plot_profiles(events: pd.DataFrame, out_dir: Path) -> list[Path]:
    """Share of (case, seed) pairs that reached each target, against seconds (log) and epochs: one panel per target."""
    plt = _plt()
    import seaborn as sns

    labels = sorted(events["label"].unique())
    colours = dict(zip(labels, sns.color_palette(n_colors=len(labels))))
    fig, axes = plt.subplots(2, len(PROFILE_TARGETS), figsize=(4.2 * len(PROFILE_TARGETS), 6.4), squeeze=False, sharey=True)
    for row, (axis, xlabel) in enumerate((("seconds", "wall seconds since the run's start"), ("epochs", "epochs spent"))):
        curve = aggregate.profile(events, axis)
        end = float(events[axis].max()) if events[axis].notna().any() else 1.0
        for col, target in enumerate(PROFILE_TARGETS):
            ax = axes[row][col]
            for label in labels:
                points = curve[(curve["label"] == label) & (curve["target"] == target)]
                xs = [points[axis].min() if len(points) else end, *points[axis]] + [end]
                ys = [0.0, *points["share"], float(points["share"].max()) if len(points) else 0.0]
                ax.step(xs, ys, where="post", label=label, color=colours[label])
            ax.set_ylim(-0.02, 1.02)
            ax.set_xlabel(xlabel)
            if axis == "seconds":
                ax.set_xscale("log")
            ax.set_title(f"target {target:g} of the gap closed", fontsize=9)
            if col == 0:
                ax.set_ylabel("share of (case, seed) pairs")
    axes[0][0].legend(fontsize=7, loc="upper left")
    return save(fig, out_dir, "performance_profiles")


def _table(frame: pd.DataFrame) -> str:
    return frame.to_html(index=False, border=0, escape=True, float_format=lambda v: f"{v:.4g}", na_rep="–")


def write_suite_html(out: Path, *, title: str, case_rows: list[dict[str, Any]], case_reports: Mapping[str, Path],
                     summary: pd.DataFrame, ranks: pd.DataFrame, friedman: pd.DataFrame, nemenyi: pd.DataFrame | None,
                     reach: pd.DataFrame, plots: Mapping[str, list[Path]], notes: list[str]) -> Path:
    from bench.report.html import _img

    rows = []
    for row in case_rows:
        link = case_reports.get(row["case"])
        cell = (f"<a href='{html.escape(os.path.relpath(link, out.parent))}'>report</a>" if link else "–")
        rows.append("<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in row.values()) + f"<td>{cell}</td></tr>")
    header = "".join(f"<th>{html.escape(k)}</th>" for k in (case_rows[0] if case_rows else {})) + "<th>case report</th>"
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>", f"<title>{html.escape(title)}</title>",
        "<style>body{font-family:sans-serif;margin:2em;max-width:1300px}table{border-collapse:collapse;font-size:13px}"
        "td,th{border:1px solid #ccc;padding:4px 6px}th{background:#eee}figure{display:block;margin:8px}"
        "img{max-width:1200px;border:1px solid #ddd}.note{color:#a50}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>", GUIDE,
        "<h2>Cases</h2>", f"<table><thead><tr>{header}</tr></thead><tbody>{''.join(rows)}</tbody></table>",
        "<h2>Normalised score</h2>", _table(summary),
        "<h2>Ranks</h2>", _table(ranks), _table(friedman),
    ]
    if "critical_difference" in plots:
        parts.append(_img(plots["critical_difference"][0], "critical-difference diagram"))
    if nemenyi is not None:
        parts += ["<h3>Nemenyi p-values (pairs)</h3>", _table(nemenyi.rename_axis("label").reset_index())]
    parts += ["<h2>Performance profiles</h2>", _img(plots["performance_profiles"][0], "performance profiles"), _table(reach)]
    if notes:
        parts.append("<h2>Notes</h2><ul>" + "".join(f"<li>{html.escape(n)}</li>" for n in notes) + "</ul>")
    parts.append("</body></html>")
    out.write_text("\n".join(parts), encoding="utf-8")
    return out
