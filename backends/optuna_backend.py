"""Optuna: `study.optimize` with a sampler, an optional pruner and journal-file storage in the run folder."""

from __future__ import annotations

import importlib.util
import math
import os
import pickle
from pathlib import Path
from typing import Any, ClassVar

from backends import optuna_space
from backends.base import NO, YES, Backend, Capabilities, RunContext
from backends.translation import NativeForm
from bench.errors import UsageError
from search_space.params import Param
from search_space.space import SearchSpace

RANDOM_FALLBACK = "at random (independent sampler)"
JOURNAL_FILE = "journal.log"
SAMPLER_FILE = "optuna_sampler.pkl"  # in the run folder: the sampler's state after each trial's draws, for --resume


def journal_storage(path: Path) -> Any:
    """Optuna's journal-file storage: reloadable, optuna-dashboard reads it, and ~10x cheaper per trial than SQLite here."""
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    return JournalStorage(JournalFileBackend(str(path)))


HEARTBEAT_SECONDS = 2  # an RDB study's running trials beat this often ...
GRACE_SECONDS = 8  # ... and Optuna fails one whose last beat is older (a killed worker's), when a worker starts a trial


def rdb_storage(url: str) -> Any:
    """Optuna's RDB storage with heartbeat on: stale trials of killed workers are failed by Optuna itself."""
    from optuna.storages import RDBStorage

    given = url
    scheme, sep, rest = url.partition("://")
    if scheme in ("postgresql", "postgres") and importlib.util.find_spec("psycopg") is not None:
        url = f"postgresql+psycopg://{rest}"  # a plain URL, read with psycopg 3 whatever SQLAlchemy's default driver is
    import warnings

    from optuna.exceptions import ExperimentalWarning
    from sqlalchemy.exc import SQLAlchemyError

    from bench.errors import one_line
    from bench.run.storage_url import redact, scrub

    try:
        with warnings.catch_warnings():  # heartbeat_interval is "experimental" in Optuna 5: two lines of noise before any error
            warnings.simplefilter("ignore", ExperimentalWarning)
            return RDBStorage(url, heartbeat_interval=HEARTBEAT_SECONDS, grace_period=GRACE_SECONDS)
    except ImportError:
        raise UsageError(f"--storage {scheme}://...: its database driver is not installed (PostgreSQL: pip install -e '.[postgres]')") from None
    except (SQLAlchemyError, ValueError) as exc:
        reason = scrub(one_line(str(getattr(exc, "orig", None) or exc)), given)[:160]
        raise UsageError(f"--storage {redact(given)}: the database cannot be used ({reason}); check the URL and that the server runs") from None


def study_storage(url: str | None, work_dir: Path) -> Any:
    """Where a run's study lives: the RDB at `url` (--storage), else the journal file in the backend's folder."""
    return rdb_storage(url) if url else journal_storage(work_dir / JOURNAL_FILE)


def study_directions(objective: Any, objectives: Any) -> list[str]:
    """Optuna's directions: one per search objective (--objectives), else the task's one."""
    return [o.optuna_direction for o in objectives] if objectives else [objective.optuna_direction]


def make_sampler(name: str, space: SearchSpace, seed: int) -> Any:
    import optuna

    if name == "tpe":
        return optuna.samplers.TPESampler(seed=seed)
    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if name == "grid":
        return optuna.samplers.GridSampler({p.name: list(p.grid() or ()) for p in space}, seed=seed)
    if name == "cmaes":
        if importlib.util.find_spec("cmaes") is None:
            raise UsageError("optuna sampler 'cmaes' needs the package 'cmaes': pip install cmaes")
        return optuna.samplers.CmaEsSampler(seed=seed, warn_independent_sampling=False)
    if name == "qmc":
        return optuna.samplers.QMCSampler(seed=seed, warn_independent_sampling=False)
    if name == "gp":
        if importlib.util.find_spec("torch") is None:
            raise UsageError("optuna sampler 'gp' needs PyTorch (GPSampler's Gaussian process): pip install torch "
                             "(the CPU build: --index-url https://download.pytorch.org/whl/cpu)")
        return optuna.samplers.GPSampler(seed=seed, warn_independent_sampling=False)
    if name == "nsga2":
        return optuna.samplers.NSGAIISampler(seed=seed)
    raise ValueError(f"unknown optuna sampler {name!r}")


def make_pruner(name: str | None, max_epochs: int) -> Any:
    import optuna

    if name in (None, "none"):
        return optuna.pruners.NopPruner()
    if name == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=1)
    if name == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=1, max_resource=max_epochs)
    raise ValueError(f"unknown optuna pruner {name!r}")


def save_sampler(sampler: Any, path: Path) -> None:
    """Pickle the sampler (Optuna's FAQ way of resuming a study with the same sampler), atomically."""
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as handle:
        pickle.dump(sampler, handle)
    os.replace(tmp, path)


def resumed_sampler(path: Path, name: str, space: SearchSpace, seed: int, trials_before: int) -> Any:
    """The sampler as the killed or interrupted session left it, so its random stream continues instead of restarting.

    Without a saved state (killed before any draw was saved) a seed derived from the trials already run is used.
    """
    try:
        with open(path, "rb") as handle:
            return pickle.load(handle)  # noqa: S301 - tunebench's own file in the run folder
    except Exception:  # noqa: BLE001 - missing, cut off, or from another Optuna version: fall back to a fresh stream
        return make_sampler(name, space, (seed + 1_000_003 * (trials_before + 1)) % 2**32)


def settle_running_trials(study_name: str, storage: Any, harness: Any, space: SearchSpace, objective_names: list[str] | None = None) -> int:
    """Trials a killed session left RUNNING (journal storage has no heartbeat to end them): each gets the state tunebench
    recorded for it (a kill can fall between our record and Optuna's tell), or fails, and is then recorded as failed.
    `objective_names`: a multi-objective study's objectives, whose recorded values are told in that order. Told through
    Optuna's public `study.tell(number, ...)`, which ends a running trial whoever created it, on a study loaded with a plain
    sampler (a GridSampler's after_trial would call `study.stop()`, which raises outside `optimize`)."""
    import optuna
    from optuna.trial import TrialState

    study = optuna.load_study(study_name=study_name, storage=storage, sampler=optuna.samplers.RandomSampler())
    stale = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
    for trial in stale:
        recorded = harness.settle_stale(str(trial.number), {k: v for k, v in trial.params.items() if k in space})
        values = None if recorded is None else (
            [(recorded.get("objectives") or {}).get(name) for name in objective_names] if objective_names else [recorded.get("objective")])
        finite = bool(values) and all(v is not None and math.isfinite(float(v)) for v in values)  # Optuna refuses NaN in a tell
        if recorded is not None and recorded["state"] == "complete" and finite:
            study.tell(trial.number, values, state=TrialState.COMPLETE, skip_if_finished=True)
        elif recorded is not None and recorded["state"] == "pruned":
            study.tell(trial.number, state=TrialState.PRUNED, skip_if_finished=True)
        else:
            study.tell(trial.number, state=TrialState.FAIL, skip_if_finished=True)
    return len(stale)


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

    def native_form(self, param: Param) -> NativeForm:
        return optuna_space.native_form(param)

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
