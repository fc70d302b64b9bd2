"""Optuna: `study.optimize` with a sampler, an optional pruner and journal-file storage in the run folder."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any, ClassVar

from backends import optuna_space
from backends.base import Backend, RunContext
from backends.translation import NativeForm
from bench.errors import UsageError
from search_space.params import Param
from search_space.space import SearchSpace


JOURNAL_FILE = "journal.log"


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
        "median": "MedianPruner on each epoch's val_accuracy",
        "hyperband": "HyperbandPruner, resource = epochs",
    }
    algorithm_flag: ClassVar[str] = "--sampler"
    packages: ClassVar[tuple[str, ...]] = ("optuna", "optuna-integration", "cmaes")

    def native_form(self, param: Param) -> NativeForm:
        return optuna_space.native_form(param)

    def run(self, ctx: RunContext) -> None:
        import optuna
        from optuna_integration.keras import KerasPruningCallback

        optuna.logging.set_verbosity(optuna.logging.ERROR)
        ctx.work_dir.mkdir(parents=True, exist_ok=True)
        study = optuna.create_study(
            study_name=ctx.study_name,
            storage=journal_storage(ctx.work_dir / JOURNAL_FILE),
            sampler=make_sampler(ctx.algorithm, ctx.space, ctx.seed),
            pruner=make_pruner(ctx.pruner, ctx.guard.budget.max_epochs),
            direction="maximize",
            load_if_exists=ctx.resume,
        )
        harness = ctx.harness
        harness.pruned_exceptions = (optuna.TrialPruned,)
        prune = ctx.pruner not in (None, "none")

        def objective(trial: optuna.Trial) -> float:
            with harness.trial(str(trial.number)) as scope:
                model = scope.build(optuna_space.suggest(trial, ctx.space))
                callbacks = [KerasPruningCallback(trial, "val_accuracy")] if prune else []
                value = scope.fit(model, callbacks=callbacks)
                trial.set_user_attr("test_accuracy", scope.test_accuracy)
                trial.set_user_attr("best_epoch", scope.progress.best_epoch)
                return value

        def stop_when_spent(study: optuna.Study, _trial: optuna.trial.FrozenTrial) -> None:
            if ctx.guard.exhausted():
                study.stop()

        if ctx.guard.exhausted():
            return
        harness.mark()
        study.optimize(
            objective, n_trials=ctx.guard.trials_left(), callbacks=[stop_when_spent], catch=(Exception,), gc_after_trial=False
        )
