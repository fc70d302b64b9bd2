"""A finished run's trials as Ray Tune's own experiment state holds them, read with Ray's `ResultGrid` (the object
`Tuner.fit()` returns, here rebuilt from the experiment folder as `Tuner.restore(...).get_results()` does)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from backends.base import StoredTrial
from backends.ray_tune_space import canonical_params
from backends.ray_tune_trial import FINAL_EPOCH_KEY, OBJECTIVE_KEY, NotATrial, objective_key


def experiment_folder(run: dict[str, Any]) -> Path:
    return Path(run["work_dir"]) / run["run_id"]


def killed_with_a_session(folder: Path) -> set[str]:
    """Trials an earlier session's saved state left running (that session was killed): they failed then, and the resumed
    session, which restored them, ended them without training (their results are the killed session's)."""
    states = sorted(folder.glob("experiment_state-*.json"))
    unfinished: set[str] = set()
    for path in states[:-1]:
        for trial_json, _ in json.loads(path.read_text(encoding="utf-8"))["trial_data"]:
            trial = json.loads(trial_json)
            if trial.get("status") in ("RUNNING", "PAUSED"):
                unfinished.add(str(trial["trial_id"]))
    return unfinished


def result_grid(run: dict[str, Any]) -> Any:
    from ray.tune import ExperimentAnalysis, ResultGrid

    return ResultGrid(ExperimentAnalysis(str(experiment_folder(run))))


def stored_trials(run: dict[str, Any]) -> list[StoredTrial]:
    """Every trial Ray ran (not those it started after the budget ran out, which raised NotATrial and trained nothing): failed when it errored (or was cut short by a killed session), complete when its last reported epoch
    ended its training anyway, pruned when Ray's scheduler stopped it before that."""
    from search_space import space_from_dict

    space = space_from_dict(run["space"])
    names = [o["name"] for o in run.get("objectives") or ()]
    killed = killed_with_a_session(experiment_folder(run))
    stored = []
    grid = result_grid(run)
    for result in grid:
        metrics = result.metrics or {}
        trial_id = str(metrics.get("trial_id") or Path(result.path).name)
        if ("training_iteration" not in metrics and result.error is None) or NotATrial.__name__ in str(result.error or ""):
            continue  # Ray started it after the budget was spent: it trained nothing
        if result.error is not None or trial_id in killed:
            state = "failed"
        elif metrics.get(FINAL_EPOCH_KEY):  # (Ray marks a trial its scheduler stopped `done` too)
            state = "complete"
        else:
            state = "pruned"
        params = canonical_params(space, result.config or {})
        if names:
            values = {n: metrics[objective_key(n)] for n in names} if state == "complete" else None
            stored.append(StoredTrial(trial_id, state, None, params, values=values))
        else:
            stored.append(StoredTrial(trial_id, state, metrics.get(OBJECTIVE_KEY), params))
    return stored
