"""Multi-objective runs: each run's Pareto front, its hypervolume against one stated reference point, and the fronts' plot."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bench.run.objectives import SearchObjective, non_dominated, trial_values

REFERENCE_MARGIN = 0.1  # the reference point lies this share of each objective's observed range beyond its worst value


@dataclass(frozen=True)
class ReferencePoint:
    """Where hypervolumes are measured from, and the ideal point that scales them to a share of the box between the two."""

    values: tuple[float, ...]  # in the objectives' own units and directions
    ideal: tuple[float, ...]
    how: str

    def text(self, objectives: Sequence[SearchObjective]) -> str:
        return ", ".join(f"{o.name} {v:.6g}" for o, v in zip(objectives, self.values))

    def ideal_text(self, objectives: Sequence[SearchObjective]) -> str:
        return ", ".join(f"{o.name} {v:.6g}" for o, v in zip(objectives, self.ideal))


def trial_points(runset: Any, objectives: Sequence[SearchObjective]) -> pd.DataFrame:
    """One row per complete trial of every run with a finite value for each objective: label, run, seed, number, values."""
    rows = []
    for run in runset.raw_runs:
        for trial in runset.trials_by_run[run["run_id"]]:
            values = trial_values(trial, objectives)
            if values is not None:
                rows.append({"label": run["label"], "run_id": run["run_id"], "seed": run["seed"], "number": trial["number"],
                             **dict(zip([o.name for o in objectives], values))})
    return pd.DataFrame(rows, columns=["label", "run_id", "seed", "number", *[o.name for o in objectives]])


def natural_ideal(objective: SearchObjective) -> float | None:
    """The best value an objective can take, where its name says it (accuracies 1; counts, seconds, losses and errors 0)."""
    name = objective.name.lower()
    if objective.direction == "max" and (name.endswith("accuracy") or name.endswith("auc")):
        return 1.0
    if objective.direction == "min" and (name in ("params", "train_seconds") or any(k in name for k in ("loss", "mse", "mae", "error"))):
        return 0.0
    return None


def reference_point(points: pd.DataFrame, objectives: Sequence[SearchObjective], given: Sequence[float] | None = None,
                    given_ideal: Sequence[float] | None = None) -> ReferencePoint:
    """`given`, or each objective's worst value over every run's complete trials pushed out by REFERENCE_MARGIN of its range
    (so that the worst trials still add volume); one point for all runs compared.

    The ideal point (the box's other corner) is `given_ideal`; with a given reference and none given, each objective's
    natural best (`natural_ideal`), so that a run's share depends on the run and the two points only, never on the other
    runs of a report. Only when neither point is given do both come from the runs compared."""
    from bench.errors import UsageError

    seen_ideal = tuple(float(points[o.name].max() if o.direction == "max" else points[o.name].min()) for o in objectives)
    if given is not None:
        ideal_how = "given (--hv-ideal)"
        if given_ideal is None:
            ideal_how = "each objective's natural best"
            natural = [natural_ideal(o) for o in objectives]
            missing = [o.name for o, v in zip(objectives, natural) if v is None]
            if missing:
                raise UsageError(f"--hv-reference fixes the reference point, but the share also needs the ideal point, and "
                                 f"{', '.join(missing)} has no natural best: give --hv-ideal with one value per objective")
            given_ideal = natural
        signs = np.array([o.sign for o in objectives])
        ref, ideal = np.asarray(given, dtype=float) * signs, np.asarray(given_ideal, dtype=float) * signs
        if not np.all(ideal < ref):
            raise UsageError(f"the ideal point ({', '.join(f'{v:.6g}' for v in given_ideal)}) must be better than the reference "
                             f"point ({', '.join(f'{v:.6g}' for v in given)}) in every objective")
        losses = points[[o.name for o in objectives]].to_numpy(float) * signs
        beyond = [o.name for k, o in enumerate(objectives) if np.any(losses[:, k] < ideal[k])]
        if beyond:
            raise UsageError(f"a trial is better than the ideal point ({', '.join(f'{v:.6g}' for v in given_ideal)}) in "
                             f"{', '.join(beyond)}, so shares would pass 1: give --hv-ideal at or beyond every trial")
        if not np.any(np.all(losses < ref, axis=1)):
            raise UsageError(f"--hv-reference {','.join(f'{v:.6g}' for v in given)}: no complete trial is better than it in every "
                             "objective, so every share would be 0; give a point worse than some trials in each objective")
        how = f"given (--hv-reference); ideal point {', '.join(f'{v:.6g}' for v in given_ideal)}, {ideal_how}"
        return ReferencePoint(tuple(float(v) for v in given), tuple(float(v) for v in given_ideal), how)
    if given_ideal is not None:
        raise UsageError("--hv-ideal goes with --hv-reference: give both, or neither (then both come from the runs compared)")
    values = []
    for o, best in zip(objectives, seen_ideal):
        worst = float(points[o.name].min() if o.direction == "max" else points[o.name].max())
        span = abs(best - worst) or max(abs(worst), 1.0) * 1e-3
        values.append(worst - REFERENCE_MARGIN * span if o.direction == "max" else worst + REFERENCE_MARGIN * span)
    return ReferencePoint(tuple(values), seen_ideal, f"each objective's worst value over all runs, {REFERENCE_MARGIN:.0%} of its "
                          "range beyond; ideal point each objective's best over all runs (so shares hold for this report's runs)")


def hypervolume(values: np.ndarray, objectives: Sequence[SearchObjective], reference: ReferencePoint) -> float:
    """The volume the points dominate up to the reference point, as a share of the box between the ideal point and the
    reference (1: one trial at the ideal); Optuna's exact WFG computation. Points beyond the reference add nothing."""
    from optuna._hypervolume import compute_hypervolume

    signs = np.array([o.sign for o in objectives])
    ref = np.asarray(reference.values, dtype=float) * signs
    box = float(np.prod(np.abs(ref - np.asarray(reference.ideal, dtype=float) * signs)))
    losses = np.asarray(values, dtype=float).reshape(-1, len(objectives)) * signs
    inside = losses[np.all(losses < ref, axis=1)]
    if len(inside) == 0 or box <= 0:
        return 0.0
    return float(compute_hypervolume(inside, ref)) / box


def run_hypervolumes(points: pd.DataFrame, objectives: Sequence[SearchObjective], reference: ReferencePoint) -> pd.Series:
    """Each run's hypervolume share (runs with no complete trial: 0)."""
    names = [o.name for o in objectives]
    return points.groupby("run_id").apply(lambda g: hypervolume(g[names].to_numpy(float), objectives, reference))


def front(points: pd.DataFrame, objectives: Sequence[SearchObjective]) -> pd.DataFrame:
    """The rows of `points` that no other row dominates."""
    if points.empty:
        return points
    signs = np.array([o.sign for o in objectives])
    return points[non_dominated(points[[o.name for o in objectives]].to_numpy(float) * signs)]


def plot_fronts(points: pd.DataFrame, objectives: Sequence[SearchObjective], reference: ReferencePoint, out_dir: Path,
                labels: dict[str, str]) -> list[Path]:
    """The first two objectives: every complete trial (dots), each seed's front (thin steps), and the front attained over
    all seeds of a label (thick steps)."""
    import seaborn as sns

    from bench.report.plots import _plt, save

    plt = _plt()
    x, y = objectives[0], objectives[1]
    fig, ax = plt.subplots(figsize=(7.5, 4.8))
    palette = dict(zip(sorted(points["label"].unique()), sns.color_palette(n_colors=max(points["label"].nunique(), 1))))

    def steps(rows: pd.DataFrame, **style: Any) -> None:
        rows = rows.sort_values(x.name, ascending=x.direction == "max")
        ax.plot(rows[x.name], rows[y.name], drawstyle="steps-post" if x.direction == y.direction else "steps-pre", **style)

    for label, group in points.groupby("label", sort=True):
        color = palette[label]
        ax.scatter(group[x.name], group[y.name], color=color, alpha=0.25, s=14)
        for _, run_points in group.groupby("run_id"):
            steps(front(run_points, objectives[:2]), color=color, alpha=0.45, linewidth=0.9)
        steps(front(group, objectives[:2]), color=color, linewidth=2.4, marker="o", markersize=4,
              label=f"{label}: {labels.get(label, '')}".rstrip(": "))
    ax.scatter([reference.values[0]], [reference.values[1]], marker="x", color="black", label="hypervolume reference point")
    ax.set(xlabel=f"{x.name} ({'higher' if x.direction == 'max' else 'lower'} is better)",
           ylabel=f"{y.name} ({'higher' if y.direction == 'max' else 'lower'} is better)")
    ax.set_title("Pareto fronts: dots every complete trial, thin each seed's front, thick the front over all seeds"
                 + (f"\n(first two of {len(objectives)} objectives)" if len(objectives) > 2 else ""), fontsize=9)
    ax.legend(fontsize=7, loc="best")
    return save(fig, out_dir, "pareto_fronts")
