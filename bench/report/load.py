"""Find run folders, read their records into pandas frames, and refuse unfair mixes."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bench.errors import UsageError
from bench.run.records import RunFolder, backend_seconds, best_trial, count_states, same_json, startup_share
from bench.run.runner import task_identity
from bench.task.base import Objective

# Fields that must agree for runs to be ranked together, and where they live in run.json.
COMPARABLE_FIELDS = {
    "task": lambda r: task_identity(r.get("task")),
    "patience": lambda r: (r.get("config") or {}).get("patience"),  # early stopping changes what a budget buys
    "space": lambda r: r.get("space"),
    "budget": lambda r: r.get("budget"),
    "keras_backend": lambda r: r.get("keras_backend"),
    "execution": lambda r: [(r.get("config") or {}).get("steps_per_execution"), (r.get("config") or {}).get("jit_compile", "auto")],
    "device": lambda r: r.get("device"),
    "machine": lambda r: [r.get("machine", {}).get("cpu"), r.get("machine", {}).get("accelerators")],
    "concurrent_runs": lambda r: r.get("concurrent_runs", 1),  # compare --jobs: runs sharing the machine's cores
    "objectives": lambda r: [(o["name"], o["direction"]) for o in r.get("objectives") or ()],  # --objectives: what was searched
    "workers": lambda r: [r.get("workers", 1), (r.get("config") or {}).get("devices")],  # --workers, --devices
}


@dataclass
class RunSet:
    runs: pd.DataFrame  # one row per run
    trials: pd.DataFrame  # one row per trial, with run columns joined in
    raw_runs: list[dict[str, Any]]
    trials_by_run: dict[str, list[dict[str, Any]]]  # the recorded trial dicts, as read
    objective: Objective = field(default_factory=Objective)  # the task's, shared by every run (or --allow-mixed)
    notes: list[str] = field(default_factory=list)


def find_run_dirs(paths: list[str | Path]) -> list[Path]:
    """Run folders named directly, or found (recursively) under the given folders, in a stable order."""
    found: list[Path] = []
    for item in paths:
        path = Path(item)
        if not path.exists():
            raise UsageError(f"{path}: no such file or folder")
        if (path / "run.json").is_file():
            found.append(path)
        else:
            found += sorted(p.parent for p in path.rglob("run.json"))
    unique = sorted(dict.fromkeys(p.resolve() for p in found))
    if not unique:
        raise UsageError(f"no runs found (no run.json under {', '.join(map(str, paths))}); run `python -m bench run` or `compare` first")
    return unique


def label_of(run: dict[str, Any]) -> str:
    label = f"{run['backend']}/{run['algorithm']}"
    if run.get("pruner") not in (None, "none"):
        label += f"+{run['pruner']}"
    if (run.get("workers") or 1) > 1:
        label += f" x{run['workers']}"  # workers: 1 against N is a comparison the report can draw (--allow-mixed)
    if run.get("objectives") and str(run.get("search", "")).startswith("scalarised"):
        label += " [scalarised]"  # several objectives, searched as one sum: said in every table and plot
    return label


def memory_growth_per_trial(trials: list[dict[str, Any]]) -> float | None:
    """Least-squares slope of resident memory against trial number (bytes per trial); None below 3 measured trials."""
    from scipy import stats

    points = [(t["number"], t["memory_rss_bytes"]) for t in trials if t.get("memory_rss_bytes")]
    if len(points) < 3 or len({n for n, _ in points}) < 3:
        return None
    numbers, rss = zip(*points)
    return float(stats.linregress(numbers, rss).slope)


def worker_utilisation(trials: list[dict[str, Any]], workers: int, seconds: float) -> float | None:
    """The share of the workers' time spent in trials: Σ (trial end − start) / (workers × the run's seconds)."""
    spans = [t["finished_at_seconds"] - t["started_at_seconds"] for t in trials if t.get("started_at_seconds") is not None]
    if not spans or seconds <= 0:
        return None
    return min(1.0, sum(spans) / (workers * seconds))


def best_so_far(values: pd.Series, objective: Objective) -> pd.Series:
    """The best value up to each trial, in the objective's direction (NaN before the first complete trial)."""
    if objective.direction == "max":
        return values.fillna(-np.inf).cummax().replace(-np.inf, np.nan)
    return values.fillna(np.inf).cummin().replace(np.inf, np.nan)


def load_runs(paths: list[str | Path], *, allow_mixed: bool = False) -> RunSet:
    notes: list[str] = []
    raw_runs, run_rows, trial_rows = [], [], []
    trials_by_run: dict[str, list[dict[str, Any]]] = {}
    objective: Objective | None = None
    for run_dir in find_run_dirs(paths):
        folder = RunFolder(run_dir)
        run = folder.read_run()
        trials, skipped = folder.read_trials()
        notes += skipped
        if run.get("status") != "complete":
            notes.append(f"{run_dir}: run status is '{run.get('status')}', included with the trials it finished")
        run["label"] = label_of(run)
        raw_runs.append(run)
        spent, budget = run["budget_spent"], run["budget"]
        trials_by_run[run["run_id"]] = trials
        states = count_states(trials)
        run_objective = Objective.from_record(run)
        objective = objective or run_objective
        best = best_trial(trials, run_objective)
        run_rows.append({
            "run_id": run["run_id"], "label": run["label"], "backend": run["backend"], "algorithm": run["algorithm"],
            "pruner": run.get("pruner"), "seed": run["seed"], "status": run.get("status"),
            "task": (run.get("task") or {}).get("name", "cnn"),
            "best_objective": None if best is None else best["objective"],
            "test_objective": None if best is None else best.get("test_objective"),
            "wall_seconds": spent["seconds"], "epochs": spent["epochs"], "trials": len(trials), **states,
            "train_seconds": sum(t["train_seconds"] for t in trials),
            "eval_seconds": sum(t["eval_seconds"] for t in trials),
            "build_seconds": sum(t.get("build_seconds", 0.0) for t in trials) + float(run.get("task_build_seconds_outside_trials") or 0.0),
            "overhead_seconds": sum(backend_seconds(t) for t in trials),
            "harness_seconds": sum(t.get("harness_seconds", 0.0) for t in trials),
            # The backend's own cost per trial: wall time outside training, the task's model build and test evaluation, less
            # tunebench's bookkeeping (its ledger work included).
            "overhead_per_trial": (sum(backend_seconds(t) for t in trials) / len(trials)) if trials else None,
            "harness_per_trial": (sum(t.get("harness_seconds", 0.0) for t in trials) / len(trials)) if trials else None,
            "startup_share": startup_share(trials),
            "worker_utilisation": worker_utilisation(trials, run.get("workers") or 1, spent["seconds"]),
            "disk_peak": run.get("disk_bytes_peak"), "disk_final": run.get("disk_bytes_final"),
            "disk_apparent_final": run.get("disk_apparent_bytes_final"),
            "memory_peak": run.get("memory_peak_bytes"), "memory_growth_per_trial": memory_growth_per_trial(trials),
            "budget_trials": budget.get("trials"), "budget_epochs": budget.get("epoch_budget"),
            "budget_seconds": budget.get("time_budget"), "max_epochs": budget.get("max_epochs"),
            "search": run.get("search"), "pareto_trials": len(run.get("pareto_trials") or ()) if run.get("objectives") else None,
            "folder": str(run_dir),
        })
        for t in trials:
            trial_rows.append({
                "run_id": run["run_id"], "label": run["label"], "backend": run["backend"], "seed": run["seed"],
                "number": t["number"], "state": t["state"], "objective": t.get("objective") if t["state"] == "complete" else None,
                "any_objective": t.get("objective"), "test_objective": t.get("test_objective"),
                "finished_at_seconds": t["finished_at_seconds"],
                "started_at_seconds": t.get("started_at_seconds"), "worker": t.get("worker") or "main",
                "epochs_run": t["epochs_run"], "train_seconds": t["train_seconds"], "overhead_seconds": t["overhead_seconds"],
                "eval_seconds": t["eval_seconds"], "disk_bytes": t["disk_bytes"], "memory_rss_bytes": t.get("memory_rss_bytes"),
                "params": t["params"],
                "objective_per_epoch": t.get("objective_per_epoch", []), "error": t.get("error"),
            })
    runs = pd.DataFrame(run_rows).sort_values(["label", "seed", "run_id"], kind="stable").reset_index(drop=True)
    objective = objective or Objective()
    trials_df = pd.DataFrame(trial_rows)
    if not trials_df.empty:
        # The running best and the epochs spent accrue in the order trials finished (with several workers, trial numbers
        # are claim order: trial 3 may finish before trial 2), so a value is never drawn before its trial ended.
        trials_df = trials_df.sort_values(["run_id", "finished_at_seconds", "number"], kind="stable").reset_index(drop=True)
        trials_df["cumulative_epochs"] = trials_df.groupby("run_id")["epochs_run"].cumsum()
        trials_df["best_so_far"] = trials_df.groupby("run_id")["objective"].transform(lambda v: best_so_far(v, objective))
        trials_df = trials_df.sort_values(["run_id", "number"], kind="stable").reset_index(drop=True)
    _check_comparable(raw_runs, allow_mixed, notes)
    if allow_mixed and len({Objective.from_record(r) for r in raw_runs}) > 1:
        raise UsageError("runs optimise different objectives (metric or direction); even --allow-mixed cannot rank them together: "
                         "report each task's runs separately")
    shared = max((r.get("concurrent_runs", 1) for r in raw_runs), default=1)
    if shared > 1:
        notes.append(f"runs were made up to {shared} at a time (compare --jobs {shared}): they shared the machine's cores, "
                     "so wall times, overheads and time budgets are not those of a machine to themselves")
    return RunSet(runs=runs, trials=trials_df, raw_runs=raw_runs, trials_by_run=trials_by_run, objective=objective, notes=notes)


def _check_comparable(runs: list[dict[str, Any]], allow_mixed: bool, notes: list[str]) -> None:
    reference = runs[0]
    for name, get in COMPARABLE_FIELDS.items():
        for other in runs[1:]:
            if not same_json(get(other), get(reference)):
                message = (f"runs differ in '{name}' ({reference['run_id']} vs {other['run_id']}); "
                           "they are not comparable: pass --allow-mixed to report them anyway")
                if not allow_mixed:
                    raise UsageError(message)
                notes.append(f"mixed runs: {message.split(';')[0]}")
                break
