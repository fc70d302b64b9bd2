"""Ray Tune: `tune.Tuner(...).fit()` on a local Ray the run starts and stops, each trial in an actor process of Ray's own.

Every trial runs under tunebench's harness inside its actor (backends/ray_tune_trial.py), on the run's shared ledger (one
budget, one trial numbering), and reports every epoch through `tune.report` with a checkpoint, as Ray's Keras callback
does. Ray's experiment folder (`ray_tune/<run id>/`: its state, each trial's results and checkpoints) is the backend's
storage, read back with Ray's own `ResultGrid` for the conformance checks.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from backends import ray_tune_space
from backends.base import Backend, Capabilities, RunContext, StoredTrial
from backends.translation import NativeForm
from search_space.params import Param

NO_CONDITIONAL = "no (Ray's own space has none: use --search optuna, define-by-run)"


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
        "random": Capabilities(conditional=NO_CONDITIONAL),
        "grid": Capabilities(conditional=NO_CONDITIONAL),
        "optuna": Capabilities(multi="pareto (OptunaSearch: MOTPE)"),
        "hyperopt": Capabilities(conditional=NO_CONDITIONAL),
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

    # -- the loop

    def run(self, ctx: RunContext) -> None:
        from ray import tune

        from backends.ray_tune_local import local_ray
        from backends.ray_tune_stopper import BudgetStopper
        from backends.ray_tune_trial import OBJECTIVE_KEY, trainable_class

        ctx.work_dir.mkdir(parents=True, exist_ok=True)
        experiment = ctx.work_dir / ctx.study_name
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
                        name=ctx.study_name, storage_path=str(ctx.work_dir), stop=BudgetStopper(ctx.run_dir, ctx.guard.budget),
                        failure_config=tune.FailureConfig(max_failures=0), verbose=0),
                )
            tuner.fit()

    def _samples(self, ctx: RunContext) -> int:
        if ctx.algorithm == "grid":
            return 1  # one pass over the grid
        left = ctx.guard.trials_left()
        return -1 if left is None else max(1, left)

    def _search_algorithm(self, ctx: RunContext) -> Any:
        from backends.ray_tune_trial import OBJECTIVE_KEY, objective_key

        if ctx.algorithm in ("random", "grid"):
            from ray.tune.search.basic_variant import BasicVariantGenerator

            return BasicVariantGenerator(random_state=ctx.seed)
        if ctx.algorithm == "optuna":
            from ray.tune.search.optuna import OptunaSearch

            from backends.optuna_samplers import make_sampler

            define_by_run = DefineByRun(ctx.space)
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


class DefineByRun:
    """OptunaSearch's define-by-run space: the Optuna backend's own suggestions, as the space spells them (a class, so that
    Ray can pickle the searcher's state)."""

    def __init__(self, space: Any) -> None:
        self.space = space

    def __call__(self, trial: Any) -> dict[str, Any]:
        from backends.optuna_space import suggest

        return suggest(trial, self.space)
