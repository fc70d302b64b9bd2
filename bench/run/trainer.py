"""Fit one model under the budget; score it by validation accuracy at its best epoch."""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from bench.run.budget import BudgetGuard
from bench.task.datasets import Dataset


class TrialFailed(RuntimeError):
    """Training broke in a way that makes the trial worthless (NaN loss, ...)."""


@dataclass
class TrainingProgress:
    """What one trial's training did so far; survives an exception raised mid-fit (pruning, NaN)."""

    val_accuracy: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    epoch_numbers: list[int] = field(default_factory=list)
    train_seconds: float = 0.0  # sum of epoch durations (our first callback's on_epoch_begin to on_epoch_end)
    fit_seconds: float = 0.0  # wall time of the model.fit call: adds fit set-up and later callbacks (e.g. checkpoints)
    callback_seconds: float = 0.0  # time spent inside our own callbacks (best-weights copy, budget checks): harness cost in fit
    best_index: int | None = None
    best_weights: list[Any] | None = None
    stopped_by: str | None = None

    @property
    def epochs_run(self) -> int:
        return len(self.val_accuracy)

    @property
    def best_val_accuracy(self) -> float | None:
        return None if self.best_index is None else self.val_accuracy[self.best_index]

    @property
    def best_epoch(self) -> int | None:
        """1-based epoch number (as Keras counts with initial_epoch) of the best validation accuracy."""
        return None if self.best_index is None else self.epoch_numbers[self.best_index] + 1


@contextlib.contextmanager
def counted_as_callback(progress: TrainingProgress) -> Iterator[None]:
    """Add the time spent inside the block to `progress.callback_seconds` (the harness's cost inside fit)."""
    entered = time.perf_counter()
    try:
        yield
    finally:
        progress.callback_seconds += time.perf_counter() - entered


def _callback_base() -> type:
    import keras

    return keras.callbacks.Callback


def make_epoch_keeper(progress: TrainingProgress, guard: BudgetGuard | None, patience: int | None) -> Any:
    """First callback of every fit: times epochs, keeps the best weights, stops on NaN or patience."""

    class EpochKeeper(_callback_base()):  # type: ignore[misc]
        def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
            self._t0 = time.perf_counter()

        def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
            progress.train_seconds += time.perf_counter() - self._t0
            with counted_as_callback(progress):
                self._keep(epoch, logs or {})

        def _keep(self, epoch: int, logs: dict) -> None:
            loss = float(logs.get("loss", math.nan))
            acc = float(logs.get("val_accuracy", math.nan))
            if guard is not None:
                guard.count_epoch()
            # Every epoch that ran is recorded, the one that broke included: the budget was charged for it.
            progress.val_accuracy.append(acc)
            progress.val_loss.append(float(logs.get("val_loss", math.nan)))
            progress.epoch_numbers.append(epoch)
            if not math.isfinite(loss):
                raise TrialFailed(f"training loss became {loss} at epoch {epoch + 1}")
            if not math.isfinite(acc):
                raise TrialFailed(f"validation accuracy became {acc} at epoch {epoch + 1}")
            if progress.best_index is None or acc > progress.val_accuracy[progress.best_index]:
                progress.best_index = len(progress.val_accuracy) - 1
                progress.best_weights = self.model.get_weights()
            elif patience is not None and len(progress.val_accuracy) - 1 - progress.best_index >= patience:
                progress.stopped_by = "early_stopping"
                self.model.stop_training = True

    return EpochKeeper()


def make_budget_stop(progress: TrainingProgress, guard: BudgetGuard, epoch_hook: Callable[[], None] | None = None) -> Any:
    """Last callback: ends training when the shared epoch or time budget runs out; then `epoch_hook` (after every
    other callback of the epoch, so a backend's checkpoint written at this epoch's end is on disk by then)."""

    class BudgetStop(_callback_base()):  # type: ignore[misc]
        async_safe = True  # reads a clock and sets a flag; lets Keras dispatch batch ends without a sync

        def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
            with counted_as_callback(progress):
                self._check_batch()

        def _check_batch(self) -> None:
            if guard.interrupted:
                progress.stopped_by = "interrupted"
                self.model.stop_training = True
            elif guard.out_of_time():
                progress.stopped_by = "time_budget"
                self.model.stop_training = True

        def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
            with counted_as_callback(progress):
                self._check_epoch()
                if epoch_hook is not None:
                    epoch_hook()

        def _check_epoch(self) -> None:
            reason = guard.exhausted()
            if reason == "interrupted":
                progress.stopped_by = "interrupted"
                self.model.stop_training = True
            elif reason in ("epochs", "time"):
                progress.stopped_by = f"{reason}_budget"
                self.model.stop_training = True

    return BudgetStop()


def fit(
    model: Any,
    data: Dataset,
    *,
    progress: TrainingProgress,
    epochs: int,
    batch_size: int,
    initial_epoch: int = 0,
    callbacks: Sequence[Any] = (),
    guard: BudgetGuard | None = None,
    patience: int | None = None,
    epoch_hook: Callable[[], None] | None = None,
) -> TrainingProgress:
    """Train, then restore the weights of the best validation epoch."""
    chain = [make_epoch_keeper(progress, guard, patience), *callbacks]
    if guard is not None:
        chain.append(make_budget_stop(progress, guard, epoch_hook))
    started = time.perf_counter()
    try:
        model.fit(
            data.x_train, data.y_train,
            validation_data=(data.x_val, data.y_val),
            epochs=epochs, initial_epoch=initial_epoch, batch_size=batch_size,
            callbacks=chain, verbose=0, shuffle=True,
        )
    finally:
        progress.fit_seconds += time.perf_counter() - started
    if progress.best_weights is not None:
        model.set_weights(progress.best_weights)
    return progress


def held_out_accuracy(model: Any, data: Dataset, batch_size: int = 1024) -> float:
    """Held-out test accuracy of the model's current weights (for reports, never for tuning).

    Eager forward passes: `model.evaluate` would trace a new function for every trial's model.
    """
    import numpy as np

    correct = 0
    for start in range(0, len(data.y_test), batch_size):
        probs = np.asarray(model(data.x_test[start : start + batch_size], training=False))
        correct += int((probs.argmax(axis=1) == data.y_test[start : start + batch_size]).sum())
    return correct / len(data.y_test)
