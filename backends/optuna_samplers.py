"""Optuna's samplers and pruners as tunebench configures them, and a sampler's state kept for a resume."""

from __future__ import annotations

import importlib.util
import os
import pickle
import threading
from pathlib import Path
from typing import Any

from bench.errors import UsageError
from search_space.space import SearchSpace

SAMPLER_FILE = "optuna_sampler.pkl"  # in the run folder: the sampler's state after each trial's draws, for --resume


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


class _SamplerPickler(pickle.Pickler):
    """Pickles a sampler with its locks as new, unlocked ones (Optuna 5.1's NSGAIISampler keeps a `threading.Lock`, which
    pickle refuses; a resumed sampler needs a lock of its own, not the old one's state)."""

    LOCKS = {type(threading.Lock()): threading.Lock, type(threading.RLock()): threading.RLock}

    def reducer_override(self, obj: Any) -> Any:
        factory = self.LOCKS.get(type(obj))
        return NotImplemented if factory is None else (factory, ())


def save_sampler(sampler: Any, path: Path) -> None:
    """Pickle the sampler (Optuna's FAQ way of resuming a study with the same sampler), atomically."""
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as handle:
        _SamplerPickler(handle).dump(sampler)
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
