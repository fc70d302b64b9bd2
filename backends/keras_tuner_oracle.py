"""KerasTuner's tuners as tunebench drives them: the tuner class of an algorithm, the limits that leave ending the search to
tunebench's budget, and the trials a killed process left running ended in the reloaded oracle."""

from __future__ import annotations

from typing import Any


def tuner_class(algorithm: str) -> Any:
    """KerasTuner's tuner class for an algorithm name."""
    import keras_tuner as kt

    return {"random": kt.RandomSearch, "bayesian": kt.BayesianOptimization, "hyperband": kt.Hyperband, "grid": kt.GridSearch}[algorithm]


def search_limits(algorithm: str, max_epochs: int) -> dict[str, Any]:
    """The tuner's own limits, set so that they never end the search: the shared guard does. Hyperband repeats its
    brackets until then (KerasTuner's default stops after one iteration)."""
    if algorithm == "hyperband":
        return {"max_epochs": max_epochs, "factor": 3, "hyperband_iterations": None}
    return {"max_trials": 10**6}


def settle_killed_trials(tuner: Any, harness: Any, space: Any, metric: str, objective_names: list[str] | None = None) -> int:
    """End the trials a killed session left running (KerasTuner's reload queues them for a retry instead): each gets the
    state tunebench recorded for it (a kill can fall between our record and KerasTuner's end_trial), or FAILED, and is
    then recorded as failed."""
    from keras_tuner.engine import trial as trial_module

    oracle = tuner.oracle
    stale = [oracle.trials[trial_id] for trial_id in oracle._retry_queue]
    oracle._retry_queue.clear()
    oracle.verbose = 0  # as search(verbose=0) sets it: no console report of these trials
    for trial in stale:
        recorded = harness.settle_stale(str(trial.trial_id), {k: v for k, v in trial.hyperparameters.values.items() if k in space})
        values = (recorded or {}).get("objectives") or {}
        if (recorded is not None and recorded["state"] == "complete" and recorded.get("objective") is not None
                and all(values.get(name) is not None for name in objective_names or ())):
            metrics = {metric: recorded["objective"], **{name: values[name] for name in objective_names or ()}}
            if objective_names:
                metrics[oracle.objective.name] = oracle.objective.get_value(metrics)
            oracle.update_trial(trial.trial_id, metrics, step=recorded.get("best_epoch") or 0)
            trial.status = trial_module.TrialStatus.COMPLETED
        else:
            trial.status = trial_module.TrialStatus.FAILED
            trial.message = "killed: the process ended while this trial ran (marked failed by tunebench --resume)"
        oracle.ongoing_trials[tuner.tuner_id] = trial
        oracle.end_trial(trial)
    if stale:
        tuner.save()
    return len(stale)
