"""Optuna: `study.optimize` with a sampler, an optional pruner and journal-file storage in the run folder."""

from __future__ import annotations

import importlib.util
import os
import pickle
from pathlib import Path
from typing import Any, ClassVar

from backends import optuna_space
from backends.base import Backend, RunContext
from backends.translation import NativeForm
from bench.errors import UsageError
from search_space.params import Param
from search_space.space import SearchSpace

JOURNAL_FILE = "journal.log"
SAMPLER_FILE = "optuna_sampler.pkl"  # in the run folder: the sampler's state after each trial's draws, for --resume


def journal_storage(path: Path) -> Any:
    """Optuna's journal-file storage: reloadable, optuna-dashboard reads it, and ~10x cheaper per trial than SQLite here."""
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    return JournalStorage(JournalFileBackend(str(path)))


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


def settle_running_trials(study: Any, storage: Any, harness: Any, space: SearchSpace) -> int:
    """Trials a killed session left RUNNING (journal storage has no heartbeat to end them): each gets the state tunebench
    recorded for it (a kill can fall between our record and Optuna's tell), or fails, and is then recorded as failed."""
    from optuna.trial import TrialState

    stale = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
    for trial in stale:
        recorded = harness.settle_stale(str(trial.number), {k: v for k, v in trial.params.items() if k in space})
        if recorded is not None and recorded["state"] == "complete" and recorded.get("objective") is not None:
            storage.set_trial_state_values(trial._trial_id, state=TrialState.COMPLETE, values=[recorded["objective"]])
        elif recorded is not None and recorded["state"] == "pruned":
            storage.set_trial_state_values(trial._trial_id, state=TrialState.PRUNED)
        else:
            storage.set_trial_state_values(trial._trial_id, state=TrialState.FAIL)
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
    }
    pruners: ClassVar[dict[str, str]] = {
        "none": "no pruning (default)",
        "median": "MedianPruner on each epoch's objective value",
        "hyperband": "HyperbandPruner, resource = epochs",
    }
    algorithm_flag: ClassVar[str] = "--sampler"
    directions: ClassVar[tuple[str, ...]] = ("max", "min")
    packages: ClassVar[tuple[str, ...]] = ("optuna", "optuna-integration", "cmaes")

    def native_form(self, param: Param) -> NativeForm:
        return optuna_space.native_form(param)

    def run(self, ctx: RunContext) -> None:
        import optuna
        from optuna_integration.keras import KerasPruningCallback

        optuna.logging.set_verbosity(optuna.logging.ERROR)
        ctx.work_dir.mkdir(parents=True, exist_ok=True)
        sampler_file = ctx.run_dir / SAMPLER_FILE
        if ctx.resume:
            sampler = resumed_sampler(sampler_file, ctx.algorithm, ctx.space, ctx.seed, ctx.guard.trials)
        else:
            sampler = make_sampler(ctx.algorithm, ctx.space, ctx.seed)
        storage = journal_storage(ctx.work_dir / JOURNAL_FILE)
        study = optuna.create_study(
            study_name=ctx.study_name,
            storage=storage,
            sampler=sampler,
            pruner=make_pruner(ctx.pruner, ctx.guard.budget.max_epochs),
            direction=ctx.objective.optuna_direction,
            load_if_exists=ctx.resume,
        )
        if ctx.resume:
            settle_running_trials(study, storage, ctx.harness, ctx.space)
        harness = ctx.harness
        harness.pruned_exceptions = (optuna.TrialPruned,)
        prune = ctx.pruner not in (None, "none")

        def objective(trial: optuna.Trial) -> float:
            with harness.trial(str(trial.number)) as scope:
                params = optuna_space.suggest(trial, ctx.space)
                with harness.bookkeeping():
                    save_sampler(study.sampler, sampler_file)  # after this trial's draws: a resume never redraws them
                model = scope.build(params)
                callbacks = [KerasPruningCallback(trial, ctx.objective.metric)] if prune else []
                # Only the objective goes into Optuna's storage: test metrics stay in tunebench's records.
                return scope.fit(model, callbacks=callbacks)

        def stop_when_spent(study: optuna.Study, _trial: optuna.trial.FrozenTrial) -> None:
            if ctx.guard.exhausted():
                study.stop()

        if ctx.guard.exhausted():
            return
        harness.mark()
        study.optimize(
            objective, n_trials=ctx.guard.trials_left(), callbacks=[stop_when_spent], catch=(Exception,), gc_after_trial=False
        )
