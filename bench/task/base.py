"""The task interface: data splits, a model builder, and the objective a trial is scored by.

A task says *what* is trained; the harness (bench.run) does the training, best-epoch scoring, budget and records,
identically for every backend. A user's task is a `Task` value (or a function of `TaskOptions` returning one):

    task = Task(name="my-mlp", data=load_splits, build=build_model, objective=Objective("val_mse", "min"),
                params=("units", "learning_rate"))
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from bench.errors import UsageError, excerpt

DIRECTIONS = ("max", "min")


class TaskError(UsageError):
    """A task that breaks the interface (bad objective, splits, builder or reference): one line, exit 2."""


@dataclass(frozen=True)
class Objective:
    """The validation metric a trial is scored by (a Keras log key, e.g. 'val_accuracy'), and whether higher is better."""

    metric: str = "val_accuracy"
    direction: str = "max"

    def __post_init__(self) -> None:
        if not isinstance(self.metric, str) or not self.metric.startswith("val_") or len(self.metric) <= 4:
            raise TaskError(f"objective metric {excerpt(self.metric)}: name a validation metric as Keras logs it, "
                            "e.g. 'val_accuracy' or 'val_loss'")
        if self.direction not in DIRECTIONS:
            raise TaskError(f"objective direction {excerpt(self.direction)}: use 'max' or 'min'")

    @property
    def test_metric(self) -> str:
        """The same metric on the held-out test split, as records name it (val_accuracy -> test_accuracy)."""
        return "test_" + self.metric[4:]

    @property
    def optuna_direction(self) -> str:
        return "maximize" if self.direction == "max" else "minimize"

    def better(self, value: float, than: float | None) -> bool:
        """Whether `value` beats `than` (None: nothing yet); NaN never does."""
        if value is None or math.isnan(value):
            return False
        if than is None:
            return True
        return value > than if self.direction == "max" else value < than

    def sort_key(self, value: float) -> float:
        """A key under which larger is better, whatever the direction."""
        return value if self.direction == "max" else -value

    def to_dict(self) -> dict[str, str]:
        return {"metric": self.metric, "direction": self.direction}

    @classmethod
    def from_record(cls, run: Mapping[str, Any]) -> Objective:
        """The objective a run.json states (runs from before tasks were pluggable: validation accuracy, maximised)."""
        stated = (run.get("task") or {}).get("objective")
        return cls(**stated) if isinstance(stated, Mapping) else cls()


ACCURACY = Objective()  # validation accuracy, maximised: the cnn task's, and that of runs recorded before tasks were pluggable


@dataclass(frozen=True)
class Splits:
    """Train, validation and test arrays. The test split is never shown to a tuner; it is evaluated for the report only."""

    x_train: Any
    y_train: Any
    x_val: Any
    y_val: Any
    x_test: Any
    y_test: Any
    name: str = "data"
    source: str = ""
    facts: Mapping[str, Any] = field(default_factory=dict)  # stored in run.json beside the sizes (classes, split seed, ...)

    def __post_init__(self) -> None:
        for split in ("train", "val", "test"):
            x, y = getattr(self, f"x_{split}"), getattr(self, f"y_{split}")
            if not isinstance(x, np.ndarray) or not isinstance(y, np.ndarray):
                raise TaskError(f"data: x_{split} and y_{split} must be numpy arrays (np.asarray them), but got "
                                f"{type(x).__name__} and {type(y).__name__}")
            if x.dtype == object or y.dtype == object:
                raise TaskError(f"data: the {split} split holds Python objects (dtype object); give numeric arrays, or encode "
                                "strings first")
            if len(x) == 0 or len(x) != len(y):
                raise TaskError(f"data: the {split} split needs as many targets as inputs, at least one, but has {len(x)} inputs and {len(y)} targets")

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.x_train.shape[1:])

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name, "source": self.source, "input_shape": list(self.input_shape),
            "train": int(len(self.y_train)), "val": int(len(self.y_val)), "test": int(len(self.y_test)),
            "fingerprint": self.fingerprint(), **self.facts,
        }

    def fingerprint(self) -> str:
        """A hash of every split's contents: runs (and a resume) on other data do not pass for the same task."""
        import hashlib

        digest = hashlib.blake2b(digest_size=12)
        for array in (self.x_train, self.y_train, self.x_val, self.y_val, self.x_test, self.y_test):
            array = np.asarray(array)
            digest.update(str((array.dtype, array.shape)).encode())
            digest.update(np.ascontiguousarray(array).data)
        return digest.hexdigest()

    def with_train_subset(self, n: int, seed: int = 0) -> Splits:
        """The first `n` training examples of a seeded permutation (all of them when n is larger)."""
        if n >= len(self.y_train):
            return self
        keep = np.sort(np.random.default_rng(seed).permutation(len(self.y_train))[:n])
        return Splits(self.x_train[keep], self.y_train[keep], self.x_val, self.y_val, self.x_test, self.y_test,
                      name=self.name, source=self.source, facts={**self.facts, "train_subset": n})


@dataclass(frozen=True)
class TaskOptions:
    """The task flags of `bench run`; a task that takes none of them refuses those given."""

    dataset: str | None = None
    data_dir: str | None = None
    train_subset: int | None = None


TrainLoop = Callable[..., None]  # (model, splits, *, epochs, initial_epoch, batch_size, callbacks) -> None


@dataclass(frozen=True)
class Task:
    """What a trial trains and how it is scored; identical for every backend.

    data: the splits, or a function returning them (called once per run, after Keras is configured).
    build: params -> a compiled Keras model (called by the harness before each trial, and by KerasTuner).
    objective: the validation metric the model's logs carry, and its direction.
    params: the parameter names `build` reads; a space tuning any other is refused (empty: not checked).
    space: the search space used when --space is not given (a shipped name or a YAML/JSON file).
    batch_size: used when the params have no 'batch_size'.
    train: a training loop to use instead of `model.fit` (it must drive the Keras callbacks it is given).
    test_score: the objective's metric on the test split (default: `model.evaluate`).
    """

    name: str
    data: Splits | Callable[[], Splits]
    build: Callable[[Mapping[str, Any]], Any]
    objective: Objective = field(default_factory=Objective)
    params: Sequence[str] = ()
    space: str | None = None
    version: str = "1"
    description: str = ""
    batch_size: int = 32
    train: TrainLoop | None = None
    test_score: Callable[[Any, Splits], float] | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip():
            raise TaskError(f"task name {excerpt(self.name)}: give the task a non-empty name")
        if not isinstance(self.objective, Objective):
            raise TaskError(f"task {self.name}: objective must be a bench.task.Objective, not {type(self.objective).__name__}")
        for attribute in ("build", "train", "test_score"):
            value = getattr(self, attribute)
            if value is not None and not callable(value):
                raise TaskError(f"task {self.name}: {attribute} must be a function, not {type(value).__name__}")
        if not (isinstance(self.data, Splits) or callable(self.data)):
            raise TaskError(f"task {self.name}: data must be a bench.task.Splits or a function returning one")
        if isinstance(self.params, str) or not all(isinstance(p, str) for p in self.params):
            raise TaskError(f"task {self.name}: params must be a list of parameter names")
        if not isinstance(self.batch_size, int) or self.batch_size < 1:
            raise TaskError(f"task {self.name}: batch_size must be a positive integer")

    def load(self) -> Splits:
        splits = self.data() if callable(self.data) else self.data
        if not isinstance(splits, Splits):
            raise TaskError(f"task {self.name}: its data function returned {type(splits).__name__}, not a bench.task.Splits")
        return splits

    def check_space(self, names: Sequence[str]) -> list[str]:
        """Problems with a space's parameter names: each must be one that `build` reads."""
        unknown = [n for n in names if self.params and n not in self.params]
        if not unknown:
            return []
        return [f"the space tunes {', '.join(map(repr, unknown))}, which task {self.name} does not read "
                f"(it reads: {', '.join(self.params)}); pick the task's own space with --space, or drop --space"]


@dataclass
class LoadedTask:
    """A task with its data loaded: what the harness trains and scores."""

    task: Task
    splits: Splits
    reference: str  # how the run named it: a shipped name, an entry point, or module:attr

    @property
    def objective(self) -> Objective:
        return self.task.objective

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.task.name, "version": self.task.version, "reference": self.reference,
            "description": self.task.description, "objective": self.objective.to_dict(), "params": list(self.task.params),
            "dataset": self.splits.describe(),
        }

    def build(self, params: Mapping[str, Any]) -> Any:
        """The task's model for `params`; a TaskError (the run stops with one line) unless it is a compiled Keras model."""
        import keras

        model = self.task.build(params)
        if not isinstance(model, keras.Model):
            raise TaskError(f"task {self.task.name}: build() returned {type(model).__name__}, not a Keras model")
        if not getattr(model, "compiled", True):
            raise TaskError(f"task {self.task.name}: build() returned a model that is not compiled; call model.compile(...) "
                            f"with the metric {self.objective.metric.removeprefix('val_')!r}")
        return model

    def batch_size(self, params: Mapping[str, Any]) -> int:
        return int(params.get("batch_size", self.task.batch_size))

    def train(self, model: Any, *, epochs: int, initial_epoch: int, batch_size: int, callbacks: Sequence[Any]) -> None:
        """The task's own loop, or `model.fit` on the training split with the validation split."""
        if self.task.train is not None:
            self.task.train(model, self.splits, epochs=epochs, initial_epoch=initial_epoch, batch_size=batch_size, callbacks=callbacks)
            return
        s = self.splits
        model.fit(s.x_train, s.y_train, validation_data=(s.x_val, s.y_val), epochs=epochs, initial_epoch=initial_epoch,
                  batch_size=batch_size, callbacks=list(callbacks), verbose=0, shuffle=True)

    def test_score(self, model: Any) -> float:
        """The objective's metric on the held-out test split, with the model's current (best-epoch) weights."""
        if self.task.test_score is not None:
            return float(self.task.test_score(model, self.splits))
        results = model.evaluate(self.splits.x_test, self.splits.y_test, verbose=0, return_dict=True)
        key = self.objective.metric[4:]
        if key not in results:
            raise TaskError(f"task {self.task.name}: model.evaluate returned no {key!r} (it has: {', '.join(results)}); "
                            "compile the model with that metric")
        return float(results[key])
