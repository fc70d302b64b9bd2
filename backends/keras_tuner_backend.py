"""KerasTuner: `tuner.search` with its own oracle and checkpoint directory in the run folder."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, ClassVar

from backends import keras_tuner_space
from backends.base import Backend, Capabilities, RunContext, SpeedMeasure, StoredTrial, WorkerGroup, WorkerServices
from backends.keras_tuner_oracle import search_limits, settle_killed_trials, tuner_class
from backends.translation import NativeForm
from search_space.params import Param

SCALARISED = ("scalarised: KerasTuner's MultiObjective minimises one sum, the objectives to minimise less those to maximise, "
              "unweighted; no Pareto search")


class _BudgetSpent(Exception):
    """Raised before KerasTuner creates a trial that the shared budget no longer allows."""


class KerasTunerBackend(Backend):
    name: ClassVar[str] = "keras-tuner"
    description: ClassVar[str] = "KerasTuner tuner.search; its checkpoint directory lives in the run folder"
    algorithms: ClassVar[dict[str, str]] = {
        "random": "RandomSearch (default)",
        "bayesian": "BayesianOptimization (Gaussian process)",
        "hyperband": "Hyperband (factor 3, max_epochs = --max-epochs)",
        "grid": "GridSearch over every discrete value",
    }
    capabilities: ClassVar[dict[str, Capabilities]] = {
        name: Capabilities(multi="scalarised (unweighted sum)", multi_how=SCALARISED) for name in algorithms}
    algorithm_flag: ClassVar[str] = "--tuner"
    distributed: ClassVar[bool] = True  # KerasTuner's chief/worker mode
    directions: ClassVar[tuple[str, ...]] = ("max", "min")
    packages: ClassVar[tuple[str, ...]] = ("keras-tuner", "tensorboard")

    def native_form(self, param: Param) -> NativeForm:
        return keras_tuner_space.native_form(param)

    def worker_group(self, setup: Any, services: WorkerServices) -> WorkerGroup:
        from backends.keras_tuner_workers import KerasTunerWorkers

        return KerasTunerWorkers(setup, services)

    def worker_env(self, run: dict[str, Any], name: str) -> dict[str, str]:
        from backends.keras_tuner_workers import worker_env

        return worker_env(run, name)

    speed_scale_trials: ClassVar[tuple[int, int]] = (5, 200)

    def speed_measures(self, quick: bool) -> list[SpeedMeasure]:
        from backends.keras_tuner_speed import measures

        return measures(quick)

    def hand_driven_search(self, space: str, n_trials: int, epochs: int, seed: int, work_dir: Path) -> float:
        from backends.keras_tuner_speed import hand_driven_keras_tuner

        return hand_driven_keras_tuner(space, n_trials, epochs, seed, None, work_dir)

    def stored_trials(self, run: dict[str, Any]) -> list[StoredTrial]:
        """KerasTuner's oracle read back from its trial files (trial_*/trial.json), as its own reload reads them."""
        states = {"COMPLETED": "complete", "FAILED": "failed", "INVALID": "failed", "RUNNING": "running", "STOPPED": "failed"}
        names = [o["name"] for o in run.get("objectives") or ()]
        stored = []
        for path in sorted(Path(run["work_dir"]).glob("*/trial_*/trial.json")):
            data = json.loads(path.read_text())
            metrics = (data.get("metrics") or {}).get("metrics") or {}
            values = {name: _last_observation(metrics[name]) for name in names if name in metrics} if names else None
            stored.append(StoredTrial(str(data["trial_id"]), states[data["status"]], data.get("score"),
                                      dict(data["hyperparameters"]["values"]), values=values))
        return stored

    def library_seed(self, seed: int) -> int:
        """KerasTuner's oracle does `seed or random.randint(1, 10000)`: seed 0 would mean unseeded, so it gets seed + 1."""
        return seed + 1

    def run(self, ctx: RunContext) -> None:
        import keras_tuner as kt

        harness, space, guard = ctx.harness, ctx.space, ctx.guard
        metric = ctx.objective.metric
        names = [o.name for o in ctx.objectives]  # several: KerasTuner's own MultiObjective (a sum) scores each trial
        current: dict[str, Any] = {}

        class HarnessHyperModel(kt.HyperModel):
            def build(self, hp: kt.HyperParameters) -> Any:
                params = keras_tuner_space.declare(hp, space)
                scope = current.get("scope")
                if scope is not None:
                    return scope.build(params)
                # KerasTuner also builds outside trials to discover conditional branches: its own cost, kept.
                # Only the declarations matter there, so a config that cannot build must not end the run.
                try:
                    return harness.build_outside_trial(params)
                except Exception:  # noqa: BLE001 - the same config fails, and is recorded, if a trial draws it
                    return None

            def fit(self, hp: kt.HyperParameters, model: Any, *args: Any, epochs: int | None = None,
                    initial_epoch: int = 0, callbacks: Any = (), **kwargs: Any) -> dict[str, float]:
                scope = current["scope"]
                value = scope.fit(model, epochs=epochs, initial_epoch=initial_epoch, callbacks=list(callbacks or ()))
                if names:  # every objective, and KerasTuner's own score of them under its objective's name ("multi_objective")
                    results = {metric: value, **dict(zip(names, scope.search_values()))}
                    return {**results, current["objective"].name: current["objective"].get_value(results)}
                return {metric: value}

        dist = ctx.distribution
        started_trials = [0]

        class GuardedTuner(tuner_class(ctx.algorithm)):  # type: ignore[misc]
            def pre_create_trial(self) -> None:
                if dist is None:
                    if guard.exhausted():
                        raise _BudgetSpent
                    return
                # A worker claims its trial from the shared budget before asking the chief's oracle for one. After an IDLE
                # reply (the oracle waits for running trials) KerasTuner asks again at once: the claim made stays unused.
                if guard.claimed_number is not None:
                    if guard.ledger.read().get("stopped"):  # the run ended meanwhile (its search, Ctrl-C): give the claim back
                        guard.release_claim()
                        raise _BudgetSpent
                    time.sleep(0.2)
                    return
                if dist.trials_per_worker is not None and started_trials[0] >= dist.trials_per_worker:
                    raise _BudgetSpent
                with harness.bookkeeping():
                    claimed = guard.claim_trial()
                if claimed is None:
                    raise _BudgetSpent

            def run_trial(self, trial: Any, *args: Any, **kwargs: Any) -> Any:
                started_trials[0] += 1
                try:
                    with harness.trial(trial.trial_id) as scope:
                        current["scope"] = scope
                        return super().run_trial(trial, *args, **kwargs)
                except Exception as exc:
                    raise kt.errors.FailedTrialError(f"{type(exc).__name__}: {exc}") from exc
                finally:
                    current["scope"] = None

        options: dict[str, Any] = {
            "hypermodel": HarnessHyperModel(),
            "objective": [kt.Objective(o.name, direction=o.direction) for o in ctx.objectives] if names
                         else kt.Objective(metric, direction=ctx.objective.direction),
            "seed": ctx.seed,
            "directory": str(ctx.work_dir),
            "project_name": "search",
            "overwrite": not ctx.resume and (dist is None or dist.role == "server"),  # a worker must not wipe the chief's files
            "max_consecutive_failed_trials": 10**9,
        }
        tuner = GuardedTuner(**options, **search_limits(ctx.algorithm, guard.budget.max_epochs))
        current["objective"] = tuner.oracle.objective
        if dist is not None and dist.role == "worker":
            harness.mark()
            try:
                tuner.search(epochs=guard.budget.max_epochs, verbose=0)
            except _BudgetSpent:
                pass
            return
        if ctx.resume:
            settle_killed_trials(tuner, harness, space, metric, names)
        else:
            tuner.save()  # so that a run killed in its first trial reloads this oracle, rather than starting a new one
        if dist is not None:  # the chief (the run's server): serves its oracle to the workers until the coordinator stops it
            tuner.search(epochs=guard.budget.max_epochs, verbose=0)
            return
        if guard.exhausted():
            return
        harness.mark()
        try:
            tuner.search(epochs=guard.budget.max_epochs, verbose=0)
        except _BudgetSpent:
            tuner.on_search_end()


def _last_observation(metric: dict[str, Any]) -> float | None:
    """A metric's value as a KerasTuner trial file holds it (its one observation: tunebench reports each metric once)."""
    observations = metric.get("observations") or []
    values = [v for obs in observations for v in obs.get("value", [])]
    return values[-1] if values else None
