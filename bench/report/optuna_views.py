"""Any run, KerasTuner's included, imported into an Optuna study to draw Optuna's own views."""

from __future__ import annotations

import math
import warnings
from pathlib import Path
from typing import Any

import pandas as pd

from bench.task.base import ACCURACY, Objective
from search_space import space_from_dict

VIEWS = ("optimization_history", "parallel_coordinate", "contour", "slice", "param_importances")


def study_from_trials(space_dict: dict[str, Any], trials: list[dict[str, Any]], name: str, objective: Objective = ACCURACY) -> Any:
    """An in-memory Optuna study holding `trials` (complete, pruned and failed) with their epoch curves."""
    import optuna

    from backends.optuna_space import to_optuna_distribution

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    space = space_from_dict(space_dict)
    study = optuna.create_study(study_name=name, direction=objective.optuna_direction)
    states = {"complete": optuna.trial.TrialState.COMPLETE, "pruned": optuna.trial.TrialState.PRUNED, "failed": optuna.trial.TrialState.FAIL}
    for t in trials:
        params = {k: v for k, v in t["params"].items() if k in space}
        value = t.get("objective") if t["state"] == "complete" else None
        if t["state"] == "complete" and (value is None or math.isnan(value)):
            continue
        curve = t.get("objective_per_epoch") or []
        study.add_trial(optuna.trial.create_trial(
            params=params,
            distributions={k: to_optuna_distribution(space[k]) for k in params},
            value=value,
            state=states[t["state"]],
            intermediate_values={t.get("initial_epoch", 0) + i + 1: v for i, v in enumerate(curve) if v is not None and not math.isnan(v)},
            user_attrs={objective.test_metric: t.get("test_objective"), "number": t["number"]},
        ))
    return study


def importances(study: Any) -> dict[str, float]:
    import optuna

    complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    if len(complete) < 2:
        return {}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return optuna.importance.get_param_importances(study, evaluator=optuna.importance.FanovaImportanceEvaluator(seed=0))
    except (ValueError, RuntimeError):
        return {}


def write_views(study: Any, out_dir: Path, prefix: str, target_name: str = "val_accuracy") -> dict[str, Path | str]:
    """Optuna's matplotlib views as PNG files; a view that cannot be drawn yields the reason instead."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import optuna.visualization.matplotlib as ovm
    from optuna.importance import FanovaImportanceEvaluator

    out_dir.mkdir(parents=True, exist_ok=True)
    ranked = list(importances(study))
    varied = sorted({k for t in study.trials for k, d in t.distributions.items() if not d.single()})
    top = ranked[:3] if len(ranked) >= 2 else None
    makers = {
        "optimization_history": lambda: ovm.plot_optimization_history(study, target_name=target_name),
        "parallel_coordinate": lambda: ovm.plot_parallel_coordinate(study, params=varied or None, target_name=target_name),
        "contour": lambda: ovm.plot_contour(study, params=top, target_name=target_name),
        "slice": lambda: ovm.plot_slice(study, params=varied or None, target_name=target_name),
        "param_importances": lambda: ovm.plot_param_importances(study, evaluator=FanovaImportanceEvaluator(seed=0)),
    }
    results: dict[str, Path | str] = {}
    for view, make in makers.items():
        if view == "contour" and top is None:
            results[view] = "needs at least two parameters with estimated importance"
            continue
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ax = make()
            fig = (ax.flat[0] if hasattr(ax, "flat") else ax).figure
            path = out_dir / f"{prefix}_{view}.png"
            fig.set_size_inches(max(fig.get_size_inches()[0], 7), max(fig.get_size_inches()[1], 4.5))
            fig.savefig(path, dpi=90, bbox_inches="tight")
            plt.close(fig)
            results[view] = path
        except Exception as exc:  # noqa: BLE001 - one view failing must not lose the others
            plt.close("all")
            results[view] = f"{type(exc).__name__}: {exc}"
    return results


def importance_frame(studies: dict[str, Any]) -> pd.DataFrame:
    rows = [{"label": label, "parameter": p, "importance": v} for label, study in studies.items() for p, v in importances(study).items()]
    return pd.DataFrame(rows, columns=["label", "parameter", "importance"])


def write_pareto_view(run: dict[str, Any], trials: list[dict[str, Any]], objectives: Any, out_dir: Path) -> Path | str:
    """Optuna's `plot_pareto_front` of one run (any backend's trials imported into a multi-objective study), first two
    objectives; the reason instead when it cannot be drawn."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import optuna
    import optuna.visualization.matplotlib as ovm

    from backends.optuna_space import to_optuna_distribution
    from bench.run.objectives import trial_values

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    space = space_from_dict(run["space"])
    shown = list(objectives)[:2]
    study = optuna.create_study(study_name=run["run_id"], directions=[o.optuna_direction for o in shown])
    for t in trials:
        values = trial_values(t, objectives)
        if values is None:
            continue
        params = {k: v for k, v in t["params"].items() if k in space}
        study.add_trial(optuna.trial.create_trial(params=params, distributions={k: to_optuna_distribution(space[k]) for k in params},
                                                  values=values[:2]))
    out_dir.mkdir(parents=True, exist_ok=True)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ax = ovm.plot_pareto_front(study, target_names=[o.name for o in shown])
        ax.set_title(f"{run['label']}: Pareto front (Optuna's plot_pareto_front)", fontsize=9)
        path = out_dir / f"{run['run_id']}_pareto_front.png"
        ax.figure.savefig(path, dpi=90, bbox_inches="tight")
        plt.close(ax.figure)
        return path
    except Exception as exc:  # noqa: BLE001 - one view failing must not lose the others
        plt.close("all")
        return f"{type(exc).__name__}: {exc}"
