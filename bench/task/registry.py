"""Tasks by reference: a shipped name, a name registered under the `tunebench.tasks` entry-point group, or module:attr.

The attribute is a `Task`, or a function taking `TaskOptions` (or nothing) that returns one. The current folder is
importable, so `--task my_task:task` finds `./my_task.py`.
"""

from __future__ import annotations

import contextlib
import importlib
import inspect
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import metadata
from typing import Any

from bench.errors import UsageError, excerpt
from bench.task.base import LoadedTask, Task, TaskError, TaskOptions

ENTRY_POINT_GROUP = "tunebench.tasks"


@dataclass(frozen=True)
class ShippedTask:
    target: str  # module:attr of its factory
    space: str  # its default search space
    summary: str


SHIPPED: dict[str, ShippedTask] = {
    "cnn": ShippedTask("bench.task.cnn:make_cnn_task", "small_cnn",
                       "the tutorial's CNN on images (--dataset digits by default); maximises val_accuracy"),
    "mlp-regression": ShippedTask("bench.task.mlp_regression:make_mlp_regression_task", "mlp_regression",
                                  "an MLP on scikit-learn's diabetes data; minimises val_mse"),
    "mlp-classification": ShippedTask("bench.task.mlp_classification:make_mlp_classification_task", "mlp_classification",
                                      "the README's breast-cancer MLP on scikit-learn's tabular data (--dataset breast_cancer, "
                                      "val_auc max; or wine, val_loss min)"),
    "synthetic": ShippedTask("bench.task.synthetic:make_synthetic_task", "synthetic",
                             "zero-cost: seeded learning curves computed from the params (plateaus, noise, NaN); maximises val_score"),
}


def registered() -> dict[str, str]:
    """Third-party tasks by name (entry point value module:attr); shipped names cannot be replaced."""
    return {e.name: e.value for e in metadata.entry_points(group=ENTRY_POINT_GROUP) if e.name not in SHIPPED}


def default_space(reference: str) -> str | None:
    """The search space a shipped task uses when --space is not given (None: known only once the task is loaded)."""
    shipped = SHIPPED.get(reference)
    return shipped.space if shipped else None


def _import_target(reference: str, target: str) -> Any:
    module_name, _, attr = target.partition(":")
    if not module_name or not attr:
        raise TaskError(f"--task {excerpt(reference)}: name a shipped task ({', '.join(SHIPPED)}), an installed one, "
                        "or module:attribute (e.g. my_task:task for ./my_task.py)")
    if target == reference and os.getcwd() not in sys.path and "" not in sys.path:  # ./module.py, as `python -m` finds it
        sys.path.insert(0, os.getcwd())
    try:
        with users_code(f"--task {excerpt(reference)}: importing {module_name}"):
            module = importlib.import_module(module_name)
    except TaskError as error:
        missing = error.__cause__
        if isinstance(missing, ModuleNotFoundError) and (missing.name == module_name or module_name.startswith(f"{missing.name}.")):
            raise TaskError(f"--task {excerpt(reference)}: no module {module_name!r} here; run from the folder that holds "
                            f"{module_name.replace('.', '/')}.py, or install it") from None
        raise
    try:
        value: Any = module
        for part in attr.split("."):
            value = getattr(value, part)
    except AttributeError:
        raise TaskError(f"--task {excerpt(reference)}: module {module_name} has no attribute {attr!r}") from None
    return value


@contextlib.contextmanager
def users_code(what: str) -> Iterator[None]:
    """Run a task's own code (its module, factory, data loader): whatever it raises becomes one line, "WHAT failed: ..."."""
    try:
        yield
    except UsageError:
        raise
    except (Exception, SystemExit) as exc:  # noqa: BLE001 - the user's code may raise anything, sys.exit() included
        raise TaskError(f"{what} failed: {type(exc).__name__}: {excerpt(str(exc), 120)}") from exc


def check_reference(reference: str) -> None:
    """Refuse a task reference that names nothing (without importing anything)."""
    _target_of(reference)


def _takes_options(factory: Any) -> bool:
    """Whether a task factory takes the TaskOptions (one required positional parameter) or nothing."""
    try:
        parameters = inspect.signature(factory).parameters.values()
    except (TypeError, ValueError):
        return False
    required = [p for p in parameters if p.default is inspect.Parameter.empty
                and p.kind in (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)]
    return len(required) == 1


def _target_of(reference: str) -> str:
    if reference in SHIPPED:
        return SHIPPED[reference].target
    plugins = registered()
    if reference in plugins:
        return plugins[reference]
    if ":" not in reference:
        raise TaskError(f"unknown task {excerpt(reference)}; known: {', '.join([*SHIPPED, *plugins])}, or module:attribute "
                        "for your own (see `python -m bench list`)")
    return reference


def resolve_task(reference: str, options: TaskOptions) -> Task:
    """The task `reference` names, made with the task flags (a task that takes none refuses those given)."""
    value = _import_target(reference, _target_of(reference))
    if isinstance(value, Task):
        task = value
        takes_options = False
    elif callable(value):
        takes_options = _takes_options(value)
        with users_code(f"--task {excerpt(reference)}: making the task"):
            task = value(options) if takes_options else value()
        if not isinstance(task, Task):
            raise TaskError(f"--task {excerpt(reference)}: its factory returned {type(task).__name__}, not a bench.task.Task")
    else:
        raise TaskError(f"--task {excerpt(reference)} is a {type(value).__name__}, not a bench.task.Task "
                        "(or a function returning one); see the README, 'Benchmark your own model'")
    if not takes_options:
        refuse_options(task.name, options, allowed=("train_subset",))
    return task


def refuse_options(task_name: str, options: TaskOptions, *, allowed: tuple[str, ...] = ()) -> None:
    """A task flag the task does not use is an error, not silently ignored."""
    for name in ("dataset", "data_dir", "train_subset"):
        if getattr(options, name) is not None and name not in allowed:
            flag = "--" + name.replace("_", "-")
            users = "the cnn and mlp-classification tasks" if name == "dataset" else "the cnn task"
            raise TaskError(f"{flag} is for {users}; task {task_name} brings its own data (drop {flag})")


def load_task(reference: str, options: TaskOptions, *, split_seed: int = 0) -> LoadedTask:
    """Resolve the task and load its splits (after Keras is configured: a task's module may import it)."""
    task = resolve_task(reference, options)
    with users_code(f"task {task.name}: loading its data"):
        splits = task.load()
    if options.train_subset is not None and "train_subset" not in splits.facts:
        splits = splits.with_train_subset(options.train_subset, seed=split_seed)
    return LoadedTask(task, splits, reference)
