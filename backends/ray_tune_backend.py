"""Ray Tune: `tune.Tuner(...).fit()` on a local Ray the run starts and stops, each trial in an actor process of Ray's own.

Every trial runs under tunebench's harness inside its actor (backends/ray_tune_trial.py), on the run's shared ledger (one
budget, one trial numbering), and reports every epoch through `tune.report` with a checkpoint, as Ray's Keras callback
does. Ray's experiment folder (`ray_tune/<run id>/`: its state, each trial's results and checkpoints) is the backend's
storage, read back with Ray's own `ResultGrid` for the conformance checks.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, ClassVar

from backends import ray_tune_space
from backends.base import NO, Backend, Capabilities, RunContext, StoredTrial
from backends.translation import NativeForm
from search_space.params import Param



class RayTuneBackend(Backend):
    name: ClassVar[str] = "ray-tune"
    description: ClassVar[str] = ("Ray Tune tune.Tuner(...).fit() on a local Ray the run starts; every trial in an actor process, "
                                  "reported each epoch with a checkpoint (results in Ray's experiment folder)")
    algorithms: ClassVar[dict[str, str]] = {
        "random": "BasicVariantGenerator: Ray's default random search",
        "grid": "BasicVariantGenerator over tune.grid_search of every value",
        "optuna": "OptunaSearch with Optuna's TPESampler, seeded as the Optuna backend's (define-by-run: conditional parameters too)",
        "hyperopt": "HyperOptSearch (hyperopt's TPE)",
    }
    capabilities: ClassVar[dict[str, Capabilities]] = {
        "random": Capabilities(conditional=NO),
        "grid": Capabilities(conditional=NO),
        "optuna": Capabilities(multi="pareto (OptunaSearch: MOTPE)"),
        "hyperopt": Capabilities(conditional=NO),
    }
    pruners: ClassVar[dict[str, str]] = {
        "none": "FIFOScheduler (Ray's default: every trial runs to its end; also --scheduler fifo)",
        "asha": "ASHAScheduler on epochs (grace 1 epoch, max_t = --max-epochs, reduction 3)",
        "async-hyperband": "AsyncHyperBandScheduler with 3 brackets (Ray's HyperBand without pausing trials)",
        "median": "MedianStoppingRule on epochs (grace 1 epoch, 3 trials needed, hard stop)",
    }
    pruner_aliases: ClassVar[dict[str, str]] = {"fifo": "none"}
    algorithm_flag: ClassVar[str] = "--search"
    pruner_flag: ClassVar[str] = "--scheduler"
    directions: ClassVar[tuple[str, ...]] = ("max", "min")
    packages: ClassVar[tuple[str, ...]] = ("ray", "optuna", "hyperopt", "pyarrow")
    trials_in_own_processes: ClassVar[bool] = True
    requires: ClassVar[tuple[str, ...]] = ("ray",)
    install_hint: ClassVar[str] = 'pip install -e ".[ray]"'
    speed_scale_trials: ClassVar[tuple[int, int]] = (8, 200)  # each trial a new actor importing Keras: ~8 s here

    def native_form(self, param: Param) -> NativeForm:
        return ray_tune_space.native_form(param)

    def describe_storage(self, storage: str | None) -> str:
        return "Ray Tune's experiment folder (ray_tune/<run id>: its state, each trial's results and checkpoints)"

    def before_resume(self, run: dict[str, Any], run_dir: Path) -> None:
        from backends.ray_tune_local import stop_leftovers

        stop_leftovers(run_dir)

    # -- its storage read back

    def stored_trials(self, run: dict[str, Any]) -> list[StoredTrial]:
        from backends.ray_tune_results import stored_trials

        return stored_trials(run)

    # -- the speed suite

    def speed_measures(self, quick: bool) -> list[Any]:
        from backends.ray_tune_speed import measures

        return measures(quick)

    def hand_driven_search(self, space: str, n_trials: int, epochs: int, seed: int, work_dir: Path) -> float:
        from backends.ray_tune_speed import hand_driven_ray

        return hand_driven_ray(space, n_trials, epochs, seed, work_dir)

    # -- the loop

    def run(self, ctx: RunContext) -> None:
        from ray import tune

        from backends.ray_tune_local import local_ray
        from backends.ray_tune_stopper import BudgetStopper
        from backends.ray_tune_trial import OBJECTIVE_KEY, trainable_class

        ctx.work_dir.mkdir(parents=True, exist_ok=True)
        experiment = ctx.work_dir / ctx.study_name
        # Ray's documented knob for how many trials it creates ahead of running them (200 for its random search): no more
        # than can run at once, so no trial is created (its folder made, its configuration drawn) that the budget never runs.
        os.environ["TUNE_MAX_PENDING_TRIALS_PG"] = str(ctx.workers)
        gpus = [d for d in ctx.devices if d.startswith("gpu")]
        with local_ray(ctx.run_dir, cpus=ctx.workers, gpus=len(gpus)):
            trainable = tune.with_resources(trainable_class(ctx.run_dir), {"cpu": 1, "gpu": 1 if gpus else 0})
            if ctx.resume and tune.Tuner.can_restore(str(experiment)):
                # Ray's own restore: finished and errored trials kept, the search algorithm's state and the remaining
                # samples continued, unfinished trials resumed: one the kill left pending starts now, and one it cut short
                # (tunebench recorded it failed) ends at once without training again (ray_tune_trial.train_trial).
                tuner = tune.Tuner.restore(str(experiment), trainable=trainable, resume_unfinished=True, resume_errored=False,
                                           restart_errored=False)
            else:
                multi = len(ctx.objectives) > 1
                stopper = BudgetStopper(ctx.run_dir, ctx.guard.budget)
                tuner = tune.Tuner(
                    trainable,
                    param_space=None if ctx.algorithm == "optuna" else ray_tune_space.param_space(ctx.space, ctx.algorithm),
                    tune_config=tune.TuneConfig(
                        metric=None if multi else OBJECTIVE_KEY, mode=None if multi else ctx.objective.direction,
                        search_alg=self._search_algorithm(ctx), scheduler=self._scheduler(ctx),
                        # Concurrency through resources (one CPU, or GPU, per trial on a Ray of --workers CPUs), not
                        # max_concurrent_trials: its ConcurrencyLimiter, restored after a kill, still counts the killed
                        # trials as live and never suggests again; and HyperBand behaves as FIFO under a limiter.
                        num_samples=self._samples(ctx), reuse_actors=False),
                    run_config=tune.RunConfig(
                        name=ctx.study_name, storage_path=str(ctx.work_dir), stop=stopper, callbacks=[stopper],
                        failure_config=tune.FailureConfig(max_failures=0), verbose=0),
                )
            grid = tuner.fit()
        self._refuse_trials_that_never_reached_the_harness(ctx, grid)

    def _refuse_trials_that_never_reached_the_harness(self, ctx: RunContext, grid: Any) -> None:
        """Trials that errored in Ray before tunebench's harness saw them (an actor that cannot import the task, say) have
        no record: when no trial of this session got one, the run failed, with Ray's own last error line."""
        from bench.errors import UsageError

        from backends.ray_tune_trial import NotATrial

        errors = [r.error for r in grid if r.error is not None and NotATrial.__name__ not in str(r.error)]
        recorded = {str(t["backend_trial_id"]) for t in ctx.harness.folder.read_trials()[0]}
        reached = [r for r in grid if str((r.metrics or {}).get("trial_id") or "") in recorded]
        if errors and not reached:
            lines = [line for line in str(errors[-1]).splitlines() if line.strip()]
            raise UsageError(f"ray-tune: {len(errors)} trial(s) failed in Ray before any reached tunebench's harness: "
                             f"{(lines or ['(no message)'])[-1][:300]} (Ray's logs: {ctx.run_dir / 'ray_logs'})")

    def _samples(self, ctx: RunContext) -> int:
        """One pass over a grid; otherwise no limit of Ray's own: the budget's stopper ends the experiment. (A sample
        count would be spent by trials Ray created but stopped unstarted when a session ended, and a resume would then
        run fewer trials than the budget.)"""
        return 1 if ctx.algorithm == "grid" else -1

    def _search_algorithm(self, ctx: RunContext) -> Any:
        from backends.ray_tune_trial import OBJECTIVE_KEY, objective_key

        if ctx.algorithm in ("random", "grid"):
            from ray.tune.search.basic_variant import BasicVariantGenerator

            return BasicVariantGenerator(random_state=ctx.seed)
        if ctx.algorithm == "optuna":
            from ray.tune.search.optuna import OptunaSearch

            from backends.optuna_samplers import make_sampler

            define_by_run = ray_tune_space.DefineByRun(ctx.space)
            if len(ctx.objectives) > 1:
                return OptunaSearch(space=define_by_run, metric=[objective_key(o.name) for o in ctx.objectives],
                                    mode=[o.direction for o in ctx.objectives], sampler=make_sampler("tpe", ctx.space, ctx.seed))
            return OptunaSearch(space=define_by_run, metric=OBJECTIVE_KEY, mode=ctx.objective.direction,
                                sampler=make_sampler("tpe", ctx.space, ctx.seed))
        if ctx.algorithm == "hyperopt":
            from ray.tune.search.hyperopt import HyperOptSearch

            return HyperOptSearch(random_state_seed=ctx.seed)
        raise ValueError(f"unknown Ray Tune search {ctx.algorithm}")

    def _scheduler(self, ctx: RunContext) -> Any:
        from ray.tune.schedulers import ASHAScheduler, AsyncHyperBandScheduler, FIFOScheduler, MedianStoppingRule

        max_epochs = ctx.guard.budget.max_epochs
        if ctx.pruner in (None, "none"):
            return FIFOScheduler()
        if ctx.pruner == "asha":
            return ASHAScheduler(time_attr="training_iteration", max_t=max_epochs, grace_period=1, reduction_factor=3)
        if ctx.pruner == "async-hyperband":
            return AsyncHyperBandScheduler(time_attr="training_iteration", max_t=max_epochs, grace_period=1, reduction_factor=3,
                                           brackets=3)
        if ctx.pruner == "median":  # min_time_slice past the last epoch: it stops trials, never pauses them
            return MedianStoppingRule(time_attr="training_iteration", grace_period=1, min_samples_required=3,
                                      min_time_slice=max_epochs + 1, hard_stop=True)
        raise ValueError(f"unknown Ray Tune scheduler {ctx.pruner}")
