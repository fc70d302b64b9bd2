"""The comparison table: one row per backend/algorithm, means and intervals over seeds (min–max below 5 seeds, BCa from 5)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from bench.report.stats import seed_interval
from bench.run.progress import human_bytes
from bench.task.base import ACCURACY, Objective


def time_to_target(trials: pd.DataFrame, target: float | None, objective: Objective = ACCURACY) -> pd.Series:
    """Seconds (since each run started) until a complete trial reached `target` (at least it when maximising, at most it
    when minimising); NaN if never."""
    if target is None or trials.empty:
        return pd.Series(dtype=float)
    values = trials["objective"]
    hits = trials[values >= target] if objective.direction == "max" else trials[values <= target]
    first = hits.groupby("run_id")["finished_at_seconds"].min()
    return first.reindex(trials["run_id"].unique())


def _fmt_interval(mean: float, low: float, high: float, digits: int = 4) -> str:
    if mean is None or (isinstance(mean, float) and math.isnan(mean)):
        return "-"
    if math.isnan(low):
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} [{low:.{digits}f}, {high:.{digits}f}]"


def _given(value: object) -> str:
    return "∞" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:g}"


def budget_text(group: pd.DataFrame) -> str:
    """Budget spent (mean over seeds) against budget given, e.g. '10/10 trials, 100/∞ epochs, 95/∞ s'."""
    first = group.iloc[0]
    return (f"{group['trials'].mean():g}/{_given(first['budget_trials'])} trials, "
            f"{group['epochs'].mean():g}/{_given(first['budget_epochs'])} epochs, "
            f"{group['wall_seconds'].mean():.0f}/{_given(first['budget_seconds'])} s")


def summary_table(runs: pd.DataFrame, trials: pd.DataFrame, *, target: float | None = None,
                  objective: Objective = ACCURACY) -> pd.DataFrame:
    """Numbers per label (kept numeric, for tests and CSV); `display_table` formats them. Rank: best mean objective in its
    direction first (lower first when minimising), ties to less wall time."""
    ttt = time_to_target(trials, target, objective)
    rows = []
    for label, group in runs.groupby("label", sort=True):
        val = group["best_objective"].astype(float).to_numpy()
        test = group["test_objective"].astype(float).to_numpy()
        val_interval, test_interval = seed_interval(val), seed_interval(test)
        val_low, val_high = val_interval.low, val_interval.high
        test_low, test_high = test_interval.low, test_interval.high
        reached = ttt.reindex(group["run_id"]) if target is not None else pd.Series(dtype=float)
        rows.append({
            "label": label, "seeds": len(group),
            "best_val_mean": float(np.nanmean(val)) if len(val) else float("nan"), "best_val_low": val_low, "best_val_high": val_high,
            "test_mean": float(np.nanmean(test)) if np.isfinite(test).any() else float("nan"), "test_low": test_low, "test_high": test_high,
            "interval": val_interval.kind,
            "test_interval": test_interval.kind,
            "wall_seconds_mean": float(group["wall_seconds"].mean()),
            "time_to_target_mean": float(reached.mean()) if target is not None and reached.notna().any() else float("nan"),
            "target_reached": f"{int(reached.notna().sum())}/{len(group)}" if target is not None else "-",
            "epochs_mean": float(group["epochs"].mean()),
            "complete": int(group["complete"].sum()), "pruned": int(group["pruned"].sum()), "failed": int(group["failed"].sum()),
            "overhead_per_trial_mean": float(group["overhead_per_trial"].astype(float).mean()),
            "harness_per_trial_mean": float(group["harness_per_trial"].astype(float).mean()),
            "startup_share_mean": float(group["startup_share"].astype(float).mean()),
            "worker_utilisation_mean": float(group["worker_utilisation"].astype(float).mean()),
            "disk_peak_mean": float(group["disk_peak"].mean()), "disk_peak_max": int(group["disk_peak"].max()),
            "disk_final_mean": float(group["disk_final"].mean()),
            "memory_peak_mean": float(group["memory_peak"].astype(float).mean()),
            "memory_growth_per_trial_mean": float(group["memory_growth_per_trial"].astype(float).mean()),
            "budget": budget_text(group),
            **hypervolume_numbers(group),
        })
    table = pd.DataFrame(rows)
    if not table.empty and "hypervolume_mean" in table:  # several objectives: the larger hypervolume share ranks first
        order = table.sort_values(["hypervolume_mean", "wall_seconds_mean"], ascending=[False, True]).index
    elif not table.empty:
        order = table.sort_values(["best_val_mean", "wall_seconds_mean"], ascending=[objective.direction == "min", True]).index
    if not table.empty:
        table.loc[order, "rank"] = range(1, len(table) + 1)
        table["rank"] = table["rank"].astype(int)
        table = table.sort_values("rank").reset_index(drop=True)
    return table


def hypervolume_numbers(group: pd.DataFrame) -> dict[str, object]:
    """A multi-objective label's hypervolume over seeds, its Pareto-front size and how it searched (empty otherwise)."""
    if "hypervolume" not in group or group["hypervolume"].isna().all():
        return {}
    interval = seed_interval(group["hypervolume"].to_numpy(float))
    return {"hypervolume_mean": float(group["hypervolume"].mean()), "hypervolume_low": interval.low, "hypervolume_high": interval.high,
            "pareto_trials_mean": float(group["pareto_trials"].astype(float).mean()),
            "search": str(group["search"].iloc[0]).split(":")[0]}  # "pareto ..." or "scalarised" (the notes say how)


def display_table(summary: pd.DataFrame, *, target: float | None, objective: Objective = ACCURACY) -> pd.DataFrame:
    """Human-readable version of `summary_table` (what the Markdown and HTML show)."""
    out = pd.DataFrame({
        "rank": summary["rank"],
        "backend/algorithm": summary["label"],
        "seeds": summary["seeds"],
        f"best {objective.metric} ({'higher' if objective.direction == 'max' else 'lower'} is better) [interval]": [_fmt_interval(r.best_val_mean, r.best_val_low, r.best_val_high) for r in summary.itertuples()],
        f"{objective.test_metric} of selected [interval]": [_fmt_interval(r.test_mean, r.test_low, r.test_high) for r in summary.itertuples()],
        "interval over seeds": [r.interval if r.interval == r.test_interval else f"val: {r.interval}; test: {r.test_interval}"
                                for r in summary.itertuples()],
        "wall time (s)": summary["wall_seconds_mean"].map(lambda v: f"{v:.1f}"),
        f"time to {target} (s)" if target is not None else "time to target": [
            (f"{r.time_to_target_mean:.1f} ({r.target_reached})" if not math.isnan(r.time_to_target_mean) else f"- ({r.target_reached})")
            for r in summary.itertuples()],
        "epochs": summary["epochs_mean"].map(lambda v: f"{v:g}"),
        "trials c/p/f": [f"{r.complete}/{r.pruned}/{r.failed}" for r in summary.itertuples()],
        "backend overhead/trial (s)": summary["overhead_per_trial_mean"].map(lambda v: f"{v:.3f}"),
        "tunebench/trial (s)": summary["harness_per_trial_mean"].map(lambda v: f"{v:.3f}"),
        "start-up share of training": summary["startup_share_mean"].map(lambda v: "-" if math.isnan(v) else f"{100 * v:.1f}%"),
        "worker utilisation": summary["worker_utilisation_mean"].map(lambda v: "-" if math.isnan(v) else f"{100 * v:.0f}%"),
        "disk peak": summary["disk_peak_mean"].map(human_bytes),
        "disk final": summary["disk_final_mean"].map(human_bytes),
        "memory peak": summary["memory_peak_mean"].map(lambda v: "-" if math.isnan(v) else human_bytes(v)),
        "memory growth/trial": summary["memory_growth_per_trial_mean"].map(lambda v: "-" if math.isnan(v) else human_bytes(v)),
        "budget spent/given": summary["budget"],
    })
    if "hypervolume_mean" in summary:  # a multi-objective comparison: what was searched, and how well the fronts cover
        out.insert(3, "hypervolume share [interval]", [_fmt_interval(r.hypervolume_mean, r.hypervolume_low, r.hypervolume_high)
                                                       for r in summary.itertuples()])
        out.insert(4, "Pareto trials", summary["pareto_trials_mean"].map(lambda v: f"{v:g}"))
        out.insert(5, "multi-objective search", summary["search"])
    return out
