"""Seaborn figures of a comparison, each saved as PNG and SVG with labelled axes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bench.report.load import RunSet
from bench.task.base import ACCURACY, Objective


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save(fig: Any, out_dir: Path, name: str) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [out_dir / f"{name}.png", out_dir / f"{name}.svg"]
    fig.tight_layout()
    for path in paths:
        fig.savefig(path, dpi=110, metadata={"Date": None} if path.suffix == ".svg" else None)
    _plt().close(fig)
    return paths


def best_so_far_on_grid(trials: pd.DataFrame, x: str, points: int = 60, objective: Objective = ACCURACY) -> pd.DataFrame:
    """Each run's best-so-far objective value on one grid of `x` shared by all runs.

    A run has a value from its first complete trial on, and keeps its last value to the end of the axis (its search
    ended there); before its first complete trial it has none, and no row.
    """
    done = trials.dropna(subset=["best_so_far"])
    if done.empty:
        return pd.DataFrame(columns=["label", "run_id", x, "best_so_far"])
    grid = np.linspace(0.0, float(trials[x].max()), points)
    rows = []
    for (label, run_id), group in trials.groupby(["label", "run_id"], sort=True):
        xs, ys = group[x].to_numpy(float), group["best_so_far"].to_numpy(float)
        for g in grid:
            seen = ys[(xs <= g) & ~np.isnan(ys)]
            if len(seen):
                rows.append({"label": label, "run_id": run_id, x: g, "best_so_far": seen.max() if objective.direction == "max" else seen.min()})
    return pd.DataFrame(rows)


def mean_where_every_seed_has_a_value(curves: pd.DataFrame, trials: pd.DataFrame, x: str) -> pd.DataFrame:
    """Per label and grid point: mean and interval over seeds, only where every run of the label has a value.

    Each run's curve only improves, so a mean over a fixed set of runs does too.
    """
    from bench.report.stats import seed_interval

    runs_per_label = trials.groupby("label")["run_id"].nunique()
    rows = []
    for (label, point), group in curves.groupby(["label", x], sort=True):
        if group["run_id"].nunique() < runs_per_label[label]:
            continue
        interval = seed_interval(group["best_so_far"].to_numpy(float))
        rows.append({"label": label, x: point, "mean": float(group["best_so_far"].mean()), "low": interval.low,
                     "high": interval.high, "interval": interval.kind, "seeds": int(runs_per_label[label])})
    return pd.DataFrame(rows, columns=["label", x, "mean", "low", "high", "interval", "seeds"])


def _best_so_far_plot(trials: pd.DataFrame, x: str, xlabel: str, title: str, out_dir: Path, name: str, objective: Objective) -> list[Path]:
    """Thin lines: each seed. Thick line and band: mean and interval over seeds, where every seed has a value."""
    plt = _plt()
    import seaborn as sns

    fig, ax = plt.subplots(figsize=(7, 4.2))
    curves = best_so_far_on_grid(trials, x, objective=objective) if not trials.empty else pd.DataFrame()
    notes = []
    if not curves.empty:
        means = mean_where_every_seed_has_a_value(curves, trials, x)
        palette = dict(zip(sorted(trials["label"].unique()), sns.color_palette(n_colors=trials["label"].nunique())))
        for (label, _run), run_curve in curves.groupby(["label", "run_id"], sort=True):
            ax.plot(run_curve[x], run_curve["best_so_far"], color=palette[label], alpha=0.3, linewidth=0.8, drawstyle="steps-post")
        for label, band in means.groupby("label", sort=True):
            ax.plot(band[x], band["mean"], color=palette[label], linewidth=2.2, drawstyle="steps-post",
                    label=f"{label} (band: {band['interval'].iloc[-1]})")
            if band["low"].notna().any():
                ax.fill_between(band[x], band["low"], band["high"], color=palette[label], alpha=0.15, step="post")
            notes.append(label)
        if not means.empty:
            ax.legend(loc="best", fontsize=7)
    ax.set(xlabel=xlabel, ylabel=f"best {objective.metric} so far")
    ax.set_title(f"{title}\nthin lines: each seed; thick: the mean, drawn only where every seed has a value", fontsize=9)
    return save(fig, out_dir, name)


def _memory_plot(trials: pd.DataFrame, out_dir: Path) -> list[Path]:
    import seaborn as sns

    fig, ax = _plt().subplots(figsize=(7, 4.2))
    measured = trials[trials["memory_rss_bytes"].fillna(0) > 0] if "memory_rss_bytes" in trials else pd.DataFrame()
    if not measured.empty:
        sns.lineplot(data=measured.assign(mib=measured["memory_rss_bytes"] / 2**20), x="number", y="mib", hue="label",
                     units="run_id", estimator=None, ax=ax, alpha=0.7)
    ax.set(xlabel="trial number", ylabel="resident memory at trial end (MiB)", title="Process memory over trials (each seed a line)")
    return save(fig, out_dir, "memory_growth")


def _worker_timeline(trials: pd.DataFrame, out_dir: Path, runs: int = 4) -> list[Path]:
    """Each worker's trials over the run's clock (the first few multi-worker runs): utilisation at a glance."""
    plt = _plt()
    multi = [run_id for run_id, group in trials.groupby("run_id", sort=True) if group["worker"].nunique() > 1][:runs]
    if not multi:  # workers differ between runs only (a plain run beside a one-worker run): no run to draw
        return []
    fig, axes = plt.subplots(len(multi), 1, figsize=(7.5, 1.2 + 1.1 * len(multi) * 1.5), squeeze=False)
    colors = {"complete": "tab:green", "pruned": "tab:orange", "failed": "tab:red"}
    for ax, run_id in zip(axes[:, 0], multi):
        group = trials[(trials["run_id"] == run_id) & trials["started_at_seconds"].notna()]
        workers = sorted(group["worker"].unique())
        for row in group.itertuples():
            ax.barh(workers.index(row.worker), row.finished_at_seconds - row.started_at_seconds, left=row.started_at_seconds,
                    color=colors.get(row.state, "grey"), edgecolor="white")
        ax.set_yticks(range(len(workers)), workers)
        ax.set_title(f"{group['label'].iloc[0]}: {run_id}", fontsize=8)
    axes[-1, 0].set_xlabel("run clock (s); green complete, orange pruned, red failed")
    fig.suptitle("Trials per worker over time", fontsize=10)
    return save(fig, out_dir, "worker_timeline")


def plot_all(runset: RunSet, out_dir: Path, importances: pd.DataFrame | None = None) -> dict[str, list[Path]]:
    import seaborn as sns

    sns.set_theme(style="whitegrid")
    plt = _plt()
    runs, trials = runset.runs, runset.trials
    files: dict[str, list[Path]] = {}
    objective = runset.objective
    direction = "higher" if objective.direction == "max" else "lower"
    files["best_vs_time"] = _best_so_far_plot(trials, "finished_at_seconds", "wall time (s)",
                                              f"Best-so-far {objective.metric} ({direction} is better) against wall time",
                                              out_dir, "best_vs_time", objective)
    files["best_vs_epochs"] = _best_so_far_plot(trials, "cumulative_epochs", "epochs spent",
                                                f"Best-so-far {objective.metric} ({direction} is better) against epochs",
                                                out_dir, "best_vs_epochs", objective)
    files["memory_growth"] = _memory_plot(trials, out_dir)
    timeline = _worker_timeline(trials, out_dir) if not trials.empty else []
    if timeline:
        files["worker_timeline"] = timeline

    fig, ax = plt.subplots(figsize=(7, 4.2))
    melted = runs.melt(id_vars=["label", "seed"], value_vars=["best_objective", "test_objective"], var_name="split", value_name="value")
    melted["split"] = melted["split"].map({"best_objective": "best validation", "test_objective": "test (selected config)"})
    sns.boxplot(data=melted, x="label", y="value", hue="split", ax=ax, fliersize=0)
    sns.stripplot(data=melted, x="label", y="value", hue="split", dodge=True, ax=ax, palette="dark:black", size=4, legend=False)
    ax.set(xlabel="backend/algorithm", ylabel=f"{objective.metric.removeprefix('val_')} ({direction} is better)",
           title="Best value per run, over seeds")
    files["accuracy_distribution"] = save(fig, out_dir, "accuracy_distribution")

    fig, ax = plt.subplots(figsize=(7, 4.2))
    disk = runs.melt(id_vars=["label"], value_vars=["disk_peak", "disk_final"], var_name="when", value_name="bytes")
    disk["bytes"] = disk["bytes"].clip(lower=1)
    sns.barplot(data=disk, x="label", y="bytes", hue="when", ax=ax, errorbar=None)
    ax.set_yscale("log")
    ax.set_ylim(bottom=max(1.0, float(disk["bytes"].min()) / 10))  # bars must not start at an arbitrary floor
    ax.set(xlabel="backend/algorithm", ylabel="bytes in the backend's folder (log scale)", title="Disk usage per backend")
    files["disk_usage"] = save(fig, out_dir, "disk_usage")

    fig, ax = plt.subplots(figsize=(7, 4.2))
    if not trials.empty:
        growth = trials.assign(disk_bytes=trials["disk_bytes"].clip(lower=1))
        sns.lineplot(data=growth, x="number", y="disk_bytes", hue="label", errorbar=("ci", 95), n_boot=500, seed=0, ax=ax, marker="o")
    ax.set_yscale("log")
    ax.set(xlabel="trial number", ylabel="bytes in the backend's folder (log scale)", title="Disk growth over trials")
    files["disk_growth"] = save(fig, out_dir, "disk_growth")

    fig, ax = plt.subplots(figsize=(7, 4.2))
    split = runs.groupby("label")[["train_seconds", "build_seconds", "eval_seconds", "overhead_seconds", "harness_seconds"]].mean()
    split.columns = ["training", "model build (task)", "test evaluation", "backend overhead", "tunebench's bookkeeping"]
    split.plot(kind="bar", stacked=True, ax=ax, rot=0)
    ax.set(xlabel="backend/algorithm", ylabel="seconds per run (mean over seeds)", title="Wall time: training against overhead")
    files["time_split"] = save(fig, out_dir, "time_split")

    fig, ax = plt.subplots(figsize=(7, 4.2))
    if importances is not None and not importances.empty:
        sns.barplot(data=importances, x="importance", y="parameter", hue="label", ax=ax)
    else:
        ax.text(0.5, 0.5, "not enough complete trials to estimate importances", ha="center", va="center", transform=ax.transAxes)
    ax.set(xlabel="fANOVA importance (Optuna)", ylabel="parameter", title="Parameter importance per backend")
    files["param_importance"] = save(fig, out_dir, "param_importance")
    return files
