"""Optuna: `study.optimize` with a sampler, an optional pruner and journal-file storage in the run folder."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from backends import optuna_space
from backends.base import NO, YES, Backend, Capabilities, RunContext, SpeedMeasure, StoredTrial, WorkerGroup, WorkerServices
from backends.optuna_samplers import SAMPLER_FILE, make_pruner, make_sampler, resumed_sampler, save_sampler
from backends.optuna_storage import JOURNAL_FILE, journal_storage, settle_running_trials, study_directions, study_storage
from backends.translation import NativeForm
from search_space.params import Param

RANDOM_FALLBACK = "at random (independent sampler)"


class OptunaBackend(Backend):
    name: ClassVar[str] = "optuna"
    description: ClassVar[str] = "Optuna study.optimize; trials stored in a journal file (open with optuna-dashboard)"
    algorithms: ClassVar[dict[str, str]] = {
        "tpe": "TPESampler (Optuna's default)",
        "random": "RandomSampler",
        "grid": "GridSampler over every discrete value",
        "cmaes": "CmaEsSampler (categoricals fall back to random)",
        "qmc": "QMCSampler (Sobol)",
        "gp": "GPSampler (Gaussian process; needs torch)",
        "nsga2": "NSGAIISampler (genetic; Optuna's multi-objective default)",
    }
    capabilities: ClassVar[dict[str, Capabilities]] = {
        "tpe": Capabilities(multi="pareto (MOTPE)"),
        "random": Capabilities(multi="pareto"),
        "grid": Capabilities(multi="pareto", conditional="yes (an inactive child's grid points repeat a config)"),
        "cmaes": Capabilities(multi=NO, conditional=RANDOM_FALLBACK, categorical=RANDOM_FALLBACK),
        "qmc": Capabilities(multi="pareto", conditional="those in the first trial; others at random"),
        "gp": Capabilities(multi="pareto", conditional=RANDOM_FALLBACK, categorical=YES),
        "nsga2": Capabilities(multi="pareto (NSGA-II)", conditional=RANDOM_FALLBACK, categorical=YES),
    }
    pruners: ClassVar[dict[str, str]] = {
        "none": "no pruning (default)",
        "median": "MedianPruner on each epoch's objective value",
        "hyperband": "HyperbandPruner, resource = epochs",
    }
    algorithm_flag: ClassVar[str] = "--sampler"
    directions: ClassVar[tuple[str, ...]] = ("max", "min")
    packages: ClassVar[tuple[str, ...]] = ("optuna", "optuna-integration", "cmaes")
    rdb_storage: ClassVar[bool] = True
    distributed: ClassVar[bool] = True
    storage_keeps_time: ClassVar[bool] = True  # datetime_start / datetime_complete
    storage_keeps_front: ClassVar[bool] = True  # study.best_trials

    def native_form(self, param: Param) -> NativeForm:
        return optuna_space.native_form(param)

    def worker_group(self, setup: Any, services: WorkerServices) -> WorkerGroup:
        from backends.optuna_workers import OptunaWorkers

        return OptunaWorkers(setup, services)

    def describe_storage(self, storage: str | None) -> str:
        return storage or f"journal file (optuna/{JOURNAL_FILE})"

    def _stored_study(self, run: dict[str, Any]) -> Any:
        """A finished run's study in its journal file, loaded with Optuna's own API (an RDB's URL is not kept whole)."""
        import optuna

        return optuna.load_study(study_name=run["run_id"], storage=journal_storage(Path(run["work_dir"]) / JOURNAL_FILE))

    def stored_trials(self, run: dict[str, Any]) -> list[StoredTrial]:
        states = {"COMPLETE": "complete", "PRUNED": "pruned", "FAIL": "failed", "RUNNING": "running", "WAITING": "running"}
        names = [o["name"] for o in run.get("objectives") or ()]
        stored = []
        for t in self._stored_study(run).get_trials(deepcopy=False):
            seconds = (t.datetime_complete - t.datetime_start).total_seconds() if t.datetime_complete and t.datetime_start else None
            if names:  # a multi-objective study: Optuna keeps every value, and no single one
                values = None if t.values is None else dict(zip(names, t.values, strict=True))
                stored.append(StoredTrial(str(t.number), states[t.state.name], None, dict(t.params), seconds, values))
            else:
                stored.append(StoredTrial(str(t.number), states[t.state.name], t.value, dict(t.params), seconds))
        return stored

    def stored_pareto_front(self, run: dict[str, Any]) -> list[int]:
        return sorted(t.number for t in self._stored_study(run).best_trials)

    speed_scale_trials: ClassVar[tuple[int, int]] = (50, 1000)

    def speed_measures(self, quick: bool) -> list[SpeedMeasure]:
        from backends.optuna_speed import measures

        return measures(quick)

    def hand_driven_search(self, space: str, n_trials: int, epochs: int, seed: int, work_dir: Path) -> float:
        from backends.optuna_speed import hand_driven_optuna

        return hand_driven_optuna(space, n_trials, epochs, seed, None, work_dir)

    def run(self, ctx: RunContext) -> None:
        import optuna
        from optuna_integration.keras import KerasPruningCallback

        optuna.logging.set_verbosity(optuna.logging.ERROR)
        ctx.work_dir.mkdir(parents=True, exist_ok=True)
        sampler_file = ctx.run_dir / SAMPLER_FILE
        dist = ctx.distribution
        if dist is not None:  # one of several workers: its own random stream, the study shared through the storage
            sampler = make_sampler(ctx.algorithm, ctx.space, (ctx.seed + 7919 * (dist.index + 1)) % 2**32)
        elif ctx.resume:
            sampler = resumed_sampler(sampler_file, ctx.algorithm, ctx.space, ctx.seed, ctx.guard.trials)
        else:
            sampler = make_sampler(ctx.algorithm, ctx.space, ctx.seed)
        storage = study_storage(dist.storage if dist is not None else None, ctx.work_dir)
        multi = len(ctx.objectives) > 1  # a true multi-objective study: Optuna keeps every value and the Pareto front
        study = optuna.create_study(
            study_name=ctx.study_name,
            storage=storage,
            sampler=sampler,
            pruner=make_pruner(ctx.pruner, ctx.guard.budget.max_epochs),
            directions=study_directions(ctx.objective, ctx.objectives),
            load_if_exists=ctx.resume or dist is not None,
        )
        if ctx.resume and dist is None:
            settle_running_trials(ctx.study_name, storage, ctx.harness, ctx.space, [o.name for o in ctx.objectives] if multi else None)
        harness = ctx.harness
        harness.pruned_exceptions = (optuna.TrialPruned,)
        prune = ctx.pruner not in (None, "none")

        def objective(trial: optuna.Trial) -> float | tuple[float, ...]:
            with harness.trial(str(trial.number)) as scope:
                params = optuna_space.suggest(trial, ctx.space)
                if dist is None:
                    with harness.bookkeeping():
                        save_sampler(study.sampler, sampler_file)  # after this trial's draws: a resume never redraws them
                model = scope.build(params)
                callbacks = [KerasPruningCallback(trial, ctx.objective.metric)] if prune else []
                # Only the objective goes into Optuna's storage: test metrics stay in tunebench's records.
                value = scope.fit(model, callbacks=callbacks)
                return scope.search_values() if multi else value

        def stop_when_spent(study: optuna.Study, _trial: optuna.trial.FrozenTrial) -> None:
            if ctx.guard.exhausted():
                study.stop()

        if dist is not None:  # each trial claimed from the shared budget before Optuna creates it
            harness.mark()
            done = 0
            def claim() -> int | None:
                with harness.bookkeeping():  # the shared ledger's work is tunebench's
                    return ctx.guard.claim_trial()

            while (dist.trials_per_worker is None or done < dist.trials_per_worker) and claim() is not None:
                study.optimize(objective, n_trials=1, catch=(Exception,), gc_after_trial=False)
                done += 1
                if isinstance(study.sampler, optuna.samplers.GridSampler) and study.sampler.is_exhausted(study):
                    break  # every grid point ran: the search ended (each optimize call forgets the sampler's stop)
            return
        if ctx.guard.exhausted():
            return
        harness.mark()
        study.optimize(
            objective, n_trials=ctx.guard.trials_left(), callbacks=[stop_when_spent], catch=(Exception,), gc_after_trial=False
        )
