"""What every backend calls around each trial: seeding, timing, budget, classification and recording."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.budget import BudgetGuard
from bench.records import RunFolder, TrialRecord, folder_bytes
from bench.task import CnnTask
from bench.trainer import TrainingProgress, held_out_accuracy


@dataclass
class TrialScope:
    """One running trial. The backend sets `params`, then calls `build` and `fit`."""

    number: int
    backend_trial_id: str
    harness: Harness
    params: dict[str, Any] = field(default_factory=dict)
    progress: TrainingProgress = field(default_factory=TrainingProgress)
    initial_epoch: int = 0
    test_accuracy: float | None = None
    eval_seconds: float = 0.0

    def build(self, params: Mapping[str, Any]) -> Any:
        self.params = dict(params)
        return self.harness.task.build(self.params)

    def fit(self, model: Any, *, epochs: int | None = None, initial_epoch: int = 0, callbacks: Sequence[Any] = ()) -> float:
        """Train up to `epochs` (the run's cap by default; never past the epoch budget); return the objective."""
        guard = self.harness.guard
        self.initial_epoch = initial_epoch
        wanted = guard.budget.max_epochs if epochs is None else epochs - initial_epoch
        last_epoch = initial_epoch + guard.epochs_for_trial(wanted)
        self.harness.task.fit(
            model, self.params, progress=self.progress, epochs=last_epoch, initial_epoch=initial_epoch,
            callbacks=callbacks, guard=guard,
        )
        t0 = time.perf_counter()
        self.test_accuracy = held_out_accuracy(model, self.harness.task.data)
        self.eval_seconds = time.perf_counter() - t0
        if self.progress.best_val_accuracy is None:
            raise RuntimeError("the trial ended before any epoch finished")
        return self.progress.best_val_accuracy


TrialListener = Callable[[TrialRecord], None]


class RunInterrupted(Exception):
    """The user pressed Ctrl-C during this trial: it is cut short and not recorded."""


class Harness:
    """Shared by all backends so that every limit and every record is produced the same way."""

    def __init__(
        self,
        *,
        task: CnnTask,
        guard: BudgetGuard,
        folder: RunFolder,
        work_dir: Path,
        seed: int,
        first_number: int = 0,
        listeners: Sequence[TrialListener] = (),
    ) -> None:
        self.task, self.guard, self.folder, self.work_dir, self.seed = task, guard, folder, work_dir, seed
        self.next_number = first_number
        self.listeners = list(listeners)
        self.pruned_exceptions: tuple[type[BaseException], ...] = ()
        self.peak_disk_bytes = folder_bytes(work_dir)
        self._last_mark = time.perf_counter()

    def mark(self) -> None:
        """Start counting the next trial's wall time from now (call when the backend's loop starts)."""
        self._last_mark = time.perf_counter()

    @contextlib.contextmanager
    def trial(self, backend_trial_id: str) -> Iterator[TrialScope]:
        """Run one trial; record it as complete, pruned or failed; re-raise so the backend sees it too."""
        import keras

        scope = TrialScope(self.next_number, str(backend_trial_id), self)
        self.next_number += 1
        keras.utils.set_random_seed((self.seed * 100_003 + scope.number) % 2**32)
        try:
            yield scope
            if scope.progress.stopped_by == "interrupted":
                raise RunInterrupted("stopped by Ctrl-C")
        except RunInterrupted:
            raise
        except self.pruned_exceptions:
            if self.guard.interrupted:
                raise RunInterrupted("stopped by Ctrl-C") from None
            self._record(scope, "pruned", None)
            raise
        except Exception as exc:
            if self.guard.interrupted:
                raise RunInterrupted("stopped by Ctrl-C") from exc
            self._record(scope, "failed", f"{type(exc).__name__}: {exc}")
            raise
        else:
            self._record(scope, "complete", None)
        # KeyboardInterrupt and RunInterrupted pass through unrecorded: only finished trials are kept.

    def _record(self, scope: TrialScope, state: str, error: str | None) -> None:
        now = time.perf_counter()
        wall = now - self._last_mark
        self._last_mark = now
        self.guard.count_trial()
        disk = folder_bytes(self.work_dir)
        self.peak_disk_bytes = max(self.peak_disk_bytes, disk)
        prog = scope.progress
        record = TrialRecord(
            number=scope.number,
            backend_trial_id=scope.backend_trial_id,
            state=state,
            params=scope.params,
            val_accuracy=prog.best_val_accuracy,
            best_epoch=prog.best_epoch,
            test_accuracy=scope.test_accuracy if state == "complete" else None,
            val_accuracy_per_epoch=prog.val_accuracy,
            val_loss_per_epoch=prog.val_loss,
            epochs_run=prog.epochs_run,
            initial_epoch=scope.initial_epoch,
            stopped_by=prog.stopped_by,
            error=error,
            train_seconds=round(prog.train_seconds, 4),
            fit_seconds=round(prog.fit_seconds, 4),
            callback_seconds=round(prog.callback_seconds, 4),
            eval_seconds=round(scope.eval_seconds, 4),
            overhead_seconds=round(max(0.0, wall - prog.train_seconds - scope.eval_seconds), 4),
            wall_seconds=round(wall, 4),
            finished_at_seconds=round(self.guard.seconds, 3),
            disk_bytes=disk,
        )
        self.folder.append_trial(record)
        for listener in self.listeners:
            listener(record)
