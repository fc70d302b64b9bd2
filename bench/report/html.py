"""One self-contained report.html (pictures embedded) that opens offline."""

from __future__ import annotations

import base64
import html
from pathlib import Path

import pandas as pd

GUIDE = """
<p><b>How to read this report.</b> Each row of the summary is one backend and algorithm, run once per seed under the
same task and budget. <i>Best val_…</i> is the task's objective (its validation metric, maximised or minimised as the
column says) at the best trial of each run: the statistic every backend optimised. <i>test_… of selected</i> is the same
metric on the held-out test split for that selected configuration, never seen by any tuner. Brackets are intervals over seeds, named in the column beside them: below 5 seeds the range (min–max) of the
values seen, since a bootstrap of so few values cannot reach outside them; from 5 seeds a 95% BCa bootstrap interval of the
mean, with n. A single seed has none. Rank orders rows by the mean best objective, best first in its direction (ties: less wall time). The significance table pairs runs by seed
(Wilcoxon signed-rank, scipy) and refuses to claim a difference when there are too few seeds for the test to reach
p&lt;0.05. <i>Backend overhead/trial</i> is wall time outside training, the task's model build (and compile) and test evaluation, less tunebench's own bookkeeping (its shared-budget ledger included): the
backend's sampling, storage and checkpointing. <i>tunebench/trial</i> is that bookkeeping (its callbacks inside fit, its
records, disk and memory readings), the same code for every backend. Disk is what <code>du</code> reports for the backend's own folder (Optuna's
journal file, KerasTuner's checkpoints and trial files), sampled at every epoch end and after each trial's writes; the peak is
the largest sample. Memory is the process's peak resident memory and the growth of resident memory per trial (a fitted
slope); both are costs of the whole stack (TensorFlow included), paid the same way by every backend.
Best-so-far plots draw each seed thinly and the mean over seeds only where every seed already has a complete trial.</p>
"""


def _img(path: Path, alt: str) -> str:
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return f'<figure><img alt="{html.escape(alt)}" src="data:image/png;base64,{data}"><figcaption>{html.escape(alt)}</figcaption></figure>'


def write_html(
    out: Path,
    *,
    title: str,
    summary: pd.DataFrame,
    significance: pd.DataFrame,
    plots: dict[str, list[Path]],
    views: dict[str, dict[str, Path | str]],
    notes: list[str],
    hypervolume_significance: pd.DataFrame | None = None,
) -> Path:
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>{html.escape(title)}</title>",
        "<style>body{font-family:sans-serif;margin:2em;max-width:1200px}table{border-collapse:collapse;font-size:13px}"
        "td,th{border:1px solid #ccc;padding:4px 6px}th{background:#eee}figure{display:inline-block;margin:8px}"
        "img{max-width:560px;border:1px solid #ddd}.note{color:#a50}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>", GUIDE,
        "<h2>Summary</h2>", summary.to_html(index=False, border=0, escape=True),
        "<h2>Significance (paired over seeds)</h2>", significance.to_html(index=False, border=0, escape=True, float_format=lambda v: f"{v:.4g}"),
    ]
    if hypervolume_significance is not None:
        parts += ["<h2>Significance of the hypervolume share (paired over seeds)</h2>",
                  hypervolume_significance.to_html(index=False, border=0, escape=True, float_format=lambda v: f"{v:.4g}")]
    parts += [
        "<h2>Plots</h2>",
    ]
    parts += [_img(paths[0], name.replace("_", " ")) for name, paths in plots.items()]
    parts.append("<h2>Optuna's views of every run (KerasTuner runs imported into Optuna studies)</h2>")
    for run_id, run_views in views.items():
        parts.append(f"<h3>{html.escape(run_id)}</h3>")
        for view, result in run_views.items():
            if isinstance(result, Path):
                parts.append(_img(result, f"{run_id}: {view.replace('_', ' ')}"))
            else:
                parts.append(f"<p class='note'>{html.escape(view)}: not drawn ({html.escape(result)})</p>")
    if notes:
        parts.append("<h2>Notes</h2><ul>" + "".join(f"<li>{html.escape(n)}</li>" for n in notes) + "</ul>")
    parts.append("</body></html>")
    out.write_text("\n".join(parts), encoding="utf-8")
    return out
