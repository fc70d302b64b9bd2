"""Search objectives (`--objectives val_accuracy:max,params:min`): what a backend optimises when it is more than the task's
one objective, and the Pareto front of the trials.

Every objective of a trial is measured on one model: the trial's scored epoch, its best epoch by the task's objective
(the weights it keeps and the test split scores). `params` is the model's parameter count (`model.count_params()`),
`train_seconds` the seconds its epochs took.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from bench.errors import UsageError, excerpt

MODEL_MEASURES = {"params": "the model's parameter count", "train_seconds": "the trial's training seconds"}
DIRECTIONS = ("max", "min")


@dataclass(frozen=True)
class SearchObjective:
    """One objective: a validation metric as Keras logs it, or a measure of the model (`params`, `train_seconds`)."""

    name: str
    direction: str

    def __post_init__(self) -> None:
        if not (self.name in MODEL_MEASURES or (self.name.startswith("val_") and len(self.name) > 4 and self.name.isidentifier())):
            raise UsageError(f"--objectives: {excerpt(self.name)} is no objective; use a validation metric as the model logs it "
                             f"(val_accuracy, val_loss, ...), {' or '.join(MODEL_MEASURES)}")
        if self.direction not in DIRECTIONS:
            raise UsageError(f"--objectives: {self.name}:{excerpt(self.direction)}: the direction is max or min")

    @property
    def kind(self) -> str:
        return MODEL_MEASURES.get(self.name, "validation metric at the trial's scored epoch")

    @property
    def optuna_direction(self) -> str:
        return "maximize" if self.direction == "max" else "minimize"

    @property
    def sign(self) -> float:
        """+1 when smaller is better: values times sign are minimised."""
        return 1.0 if self.direction == "min" else -1.0

    def to_dict(self) -> dict[str, str]:
        return {"name": self.name, "direction": self.direction, "kind": self.kind}

    @property
    def text(self) -> str:
        return f"{self.name}:{self.direction}"


def parse_objectives(text: str) -> tuple[SearchObjective, ...]:
    """`val_accuracy:max,params:min` as objectives; two or more, each named once, each with its direction."""
    items = [item.strip() for item in str(text).split(",") if item.strip()]
    objectives = []
    for item in items:
        name, sep, direction = item.partition(":")
        if not sep:
            raise UsageError(f"--objectives: {excerpt(item)} has no direction; write NAME:max or NAME:min, e.g. val_accuracy:max,params:min")
        objectives.append(SearchObjective(name.strip(), direction.strip()))
    names = [o.name for o in objectives]
    if len(objectives) < 2:
        raise UsageError("--objectives takes two or more objectives (e.g. val_accuracy:max,params:min); with one, the run searches "
                         "the task's own objective")
    if len(set(names)) != len(names):
        raise UsageError(f"--objectives names {', '.join(sorted({n for n in names if names.count(n) > 1}))} twice; name each once")
    return tuple(objectives)


def objectives_text(objectives: Sequence[SearchObjective]) -> str:
    return ",".join(o.text for o in objectives)


def objectives_of_run(run: Mapping[str, Any]) -> tuple[SearchObjective, ...]:
    """The search objectives a run.json states (none: a single-objective run)."""
    return tuple(SearchObjective(o["name"], o["direction"]) for o in run.get("objectives") or ())


def scalarised(values: Sequence[float], objectives: Sequence[SearchObjective]) -> float:
    """KerasTuner's MultiObjective score (minimised): the sum of the values to minimise less the sum of those to maximise."""
    return float(sum(o.sign * v for o, v in zip(objectives, values)))


def non_dominated(points: np.ndarray) -> np.ndarray:
    """Which rows of `points` (to be minimised, one column per objective) no other row dominates (equal rows are all kept)."""
    points = np.asarray(points, dtype=float)
    keep = np.ones(len(points), dtype=bool)
    for i, point in enumerate(points):
        dominated_by = np.all(points <= point, axis=1) & np.any(points < point, axis=1)
        keep[i] = not dominated_by.any()
    return keep


def trial_values(trial: Mapping[str, Any], objectives: Sequence[SearchObjective]) -> list[float] | None:
    """A complete trial's objective values in the objectives' order; None when it has no finite value for each."""
    stored = trial.get("objectives") or {}
    if trial.get("state") != "complete" or not all(o.name in stored for o in objectives):
        return None
    values = [stored[o.name] for o in objectives]
    return values if all(v is not None and math.isfinite(v) for v in values) else None


def pareto_trials(trials: Sequence[Mapping[str, Any]], objectives: Sequence[SearchObjective]) -> list[dict[str, Any]]:
    """The complete trials no other complete trial dominates, in trial order, with their objective values."""
    scored = [(t, values) for t in trials if (values := trial_values(t, objectives)) is not None]
    if not scored:
        return []
    signs = np.array([o.sign for o in objectives])
    keep = non_dominated(np.array([values for _, values in scored]) * signs)
    return [{"number": t["number"], "backend_trial_id": t["backend_trial_id"], "values": dict(zip([o.name for o in objectives], values))}
            for (t, values), kept in zip(scored, keep) if kept]
