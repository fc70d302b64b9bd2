"""Backends by name: the built-ins plus any registered under the `tunebench.backends` entry-point group."""

from __future__ import annotations

from importlib import metadata

from backends.base import Backend
from bench.errors import UsageError, excerpt

ENTRY_POINT_GROUP = "tunebench.backends"
BUILTINS = {  # name -> "module:class", imported when asked for (the registry imports no backend module up front)
    "optuna": "backends.optuna_backend:OptunaBackend",
    "keras-tuner": "backends.keras_tuner_backend:KerasTunerBackend",
    "ray-tune": "backends.ray_tune_backend:RayTuneBackend",
}
DEFAULT_BACKEND = next(iter(BUILTINS))  # `bench run` without --backend


def _builtins() -> dict[str, type[Backend]]:
    import importlib

    found = {}
    for name, target in BUILTINS.items():
        module, _, attr = target.partition(":")
        found[name] = getattr(importlib.import_module(module), attr)
    return found


def backend_classes() -> dict[str, type[Backend]]:
    """Every known backend class; a third-party entry point may add new names but not replace built-ins."""
    found = _builtins()
    for entry in metadata.entry_points(group=ENTRY_POINT_GROUP):
        if entry.name in found:
            continue
        try:
            cls = entry.load()
        except Exception as exc:  # noqa: BLE001 - a broken plugin must not break the others
            raise UsageError(f"backend plugin '{entry.name}' ({entry.value}) failed to load: {type(exc).__name__}: {exc}") from None
        if not (isinstance(cls, type) and issubclass(cls, Backend)):
            raise UsageError(f"backend plugin '{entry.name}' ({entry.value}) is not a subclass of backends.base.Backend")
        found[entry.name] = cls
    return found


def get_backend(name: str) -> Backend:
    builtins = _builtins()
    if name in builtins:  # a plugin cannot replace a built-in, so its entry points need not be read
        return builtins[name]()
    classes = backend_classes()
    if name not in classes:
        raise UsageError(f"unknown backend {excerpt(name)}; known: {', '.join(classes)} (see `python -m bench list`)")
    return classes[name]()


def all_backends() -> list[Backend]:
    return [cls() for cls in backend_classes().values()]
