"""The CNN task: params dict -> model -> fit under the budget -> metrics."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bench.run.budget import BudgetGuard
from bench.run.trainer import TrainingProgress, fit
from bench.task.cnn_model import build_cnn, resolved
from bench.task.datasets import Dataset


@dataclass
class CnnTask:
    """Everything a trial needs besides its params; identical for every backend."""

    data: Dataset
    patience: int | None = None

    def describe(self) -> dict[str, Any]:
        return {
            "model": "cnn",
            "dataset": self.data.describe(),
            "objective": "val_accuracy at the trial's best epoch (its weights restored)",
            "patience": self.patience,
        }

    def build(self, params: Mapping[str, Any]) -> Any:
        return build_cnn(params, input_shape=self.data.input_shape, num_classes=self.data.num_classes)

    def fit(
        self,
        model: Any,
        params: Mapping[str, Any],
        *,
        progress: TrainingProgress,
        epochs: int,
        initial_epoch: int = 0,
        callbacks: Sequence[Any] = (),
        guard: BudgetGuard | None = None,
        epoch_hook: Callable[[], None] | None = None,
    ) -> TrainingProgress:
        return fit(
            model, self.data, progress=progress, epochs=epochs, initial_epoch=initial_epoch,
            batch_size=int(resolved(params)["batch_size"]), callbacks=callbacks, guard=guard, patience=self.patience,
            epoch_hook=epoch_hook,
        )
