"""Train one model under the budget; score it by the task's objective at its best epoch (those weights restored)."""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from bench.run.budget import BudgetGuard
from bench.task.base import LoadedTask, Objective, TaskError


class TrialFailed(RuntimeError):
    """Training broke in a way that makes the trial worthless (NaN loss, ...)."""


@dataclass
class TrainingProgress:
    """What one trial's training did so far; survives an exception raised mid-fit (pruning, NaN)."""

    objective: list[float] = field(default_factory=list)  # the objective's metric at every epoch that ran
    val_loss: list[float] = field(default_factory=list)
    epoch_numbers: list[int] = field(default_factory=list)
    epoch_seconds: list[float] = field(default_factory=list)  # each recorded epoch's duration (the first includes tracing/compilation)
    logs: list[dict[str, float]] = field(default_factory=list)  # every epoch's Keras logs (train and validation metrics)
    train_seconds: float = 0.0  # sum of epoch durations (our first callback's on_epoch_begin to on_epoch_end)
    fit_seconds: float = 0.0  # wall time of the model.fit call: adds fit set-up and later callbacks (e.g. checkpoints)
    callback_seconds: float = 0.0  # time spent inside our own callbacks (best-weights copy, budget checks): harness cost in fit
    best_index: int | None = None
    best_weights: list[Any] | None = None  # a copy of the best epoch's weights, unless that epoch is the model's last
    stopped_by: str | None = None

    @property
    def epochs_run(self) -> int:
        return len(self.objective)

    @property
    def best_objective(self) -> float | None:
        return None if self.best_index is None else self.objective[self.best_index]

    @property
    def best_epoch(self) -> int | None:
        """1-based epoch number (as Keras counts with initial_epoch) of the best objective value."""
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


def make_epoch_keeper(progress: TrainingProgress, objective: Objective, guard: BudgetGuard | None, patience: int | None,
                      weights_worth_keeping_above: float | None = None) -> Any:
    """First callback of every fit: times epochs, keeps the best weights, stops on NaN or patience.

    Weights are copied only at an epoch that improves on `weights_worth_keeping_above` too (the run's best so far: only a
    trial that beats it gets a test score, so only then are the best epoch's weights needed), and not at the last epoch.
    """

    class EpochKeeper(_callback_base()):  # type: ignore[misc]
        def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
            self._t0 = time.perf_counter()

        def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
            seconds = time.perf_counter() - self._t0
            progress.train_seconds += seconds
            with counted_as_callback(progress):
                self._keep(epoch, logs or {}, seconds)

        def _keep(self, epoch: int, logs: dict, seconds: float) -> None:
            if objective.metric not in logs:
                raise TaskError(f"the model's epoch logs have no {objective.metric!r} (they have: {', '.join(logs) or 'nothing'}); "
                                "compile the model with that metric, or name one it logs as the task's objective")
            loss = float(logs.get("loss", 0.0))  # a task's own loop may log no training loss
            value = float(logs[objective.metric])
            if guard is not None:
                guard.count_epoch()
            # Every epoch that ran is recorded, the one that broke included: the budget was charged for it.
            progress.objective.append(value)
            progress.val_loss.append(float(logs.get("val_loss", math.nan)))
            progress.epoch_numbers.append(epoch)
            progress.epoch_seconds.append(round(seconds, 4))
            progress.logs.append({key: float(v) for key, v in logs.items() if isinstance(v, (int, float)) or hasattr(v, "__float__")})
            if not math.isfinite(loss):
                raise TrialFailed(f"training loss became {loss} at epoch {epoch + 1}")
            if not math.isfinite(value):
                raise TrialFailed(f"{objective.metric} became {value} at epoch {epoch + 1}")
            if objective.better(value, progress.best_objective):
                progress.best_index = len(progress.objective) - 1
                last = self.params.get("epochs") if isinstance(self.params, dict) else None
                if last is not None and epoch + 1 >= last:
                    progress.best_weights = None  # the last epoch's weights stay in the model: nothing to restore
                elif objective.better(value, weights_worth_keeping_above):
                    progress.best_weights = snapshot_weights(self.model)
            elif patience is not None and len(progress.objective) - 1 - progress.best_index >= patience:
                progress.stopped_by = "early_stopping"
                self.model.stop_training = True

    return EpochKeeper()


def make_budget_stop(progress: TrainingProgress, guard: BudgetGuard, epoch_hook: Callable[[], None] | None = None) -> Any:
    """Last callback: ends training when the shared epoch or time budget runs out; then `epoch_hook` (after every
    other callback of the epoch, so a backend's checkpoint written at this epoch's end is on disk by then)."""

    class BudgetStop(_callback_base()):  # type: ignore[misc]
        async_safe = True  # reads a clock and sets a flag; lets Keras dispatch batch ends without a sync

        def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
            entered = time.perf_counter()  # counted inline: a context manager per batch would cost more than the check
            if guard.interrupted:
                progress.stopped_by = "interrupted"
                self.model.stop_training = True
            elif guard.out_of_time():
                progress.stopped_by = "time_budget"
                self.model.stop_training = True
            progress.callback_seconds += time.perf_counter() - entered

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


def _overrides_weights(model: Any) -> bool:
    """Whether the model keeps its state its own way (overrides get_weights/set_weights, like the synthetic task's)."""
    import keras

    return type(model).get_weights is not keras.Model.get_weights or type(model).set_weights is not keras.Model.set_weights


def snapshot_weights(model: Any) -> list[Any]:
    """A copy of the model's weights kept on its device (`keras.ops.copy` of each variable's value): ~20x cheaper than
    `get_weights`, which brings every variable to host memory as numpy."""
    if _overrides_weights(model):
        return model.get_weights()
    import keras

    return [keras.ops.copy(variable.value) for variable in model.weights]


def restore_weights(model: Any, weights: list[Any]) -> None:
    if _overrides_weights(model):
        model.set_weights(weights)
        return
    for variable, value in zip(model.weights, weights, strict=True):
        variable.assign(value)


def fit(
    model: Any,
    task: LoadedTask,
    *,
    progress: TrainingProgress,
    epochs: int,
    batch_size: int,
    initial_epoch: int = 0,
    callbacks: Sequence[Any] = (),
    guard: BudgetGuard | None = None,
    patience: int | None = None,
    epoch_hook: Callable[[], None] | None = None,
    weights_worth_keeping_above: float | None = None,
) -> TrainingProgress:
    """Train with the task's loop, then restore the weights of the best validation epoch (when it beat
    `weights_worth_keeping_above`; see `make_epoch_keeper`)."""
    chain = [make_epoch_keeper(progress, task.objective, guard, patience, weights_worth_keeping_above), *callbacks]
    if guard is not None:
        chain.append(make_budget_stop(progress, guard, epoch_hook))
    started = time.perf_counter()
    try:
        task.train(model, epochs=epochs, initial_epoch=initial_epoch, batch_size=batch_size, callbacks=chain)
    finally:
        progress.fit_seconds += time.perf_counter() - started
    if progress.best_weights is not None:
        restore_weights(model, progress.best_weights)
    return progress
