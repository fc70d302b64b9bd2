"""What every backend calls around each trial: clean-up, seeding, timing, budget, classification and recording."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.errors import excerpt
from bench.run.budget import BudgetGuard
from bench.run.environment import process_started_at
from bench.run.execution import ExecutionSettings
from bench.run.hold import HoldPoints
from bench.run.ledger import SharedGuard
from bench.run.objectives import SearchObjective
from bench.run.records import DiskMeter, RunFolder, TrialRecord, best_trial, resident_bytes, startup_figures
from bench.run.trainer import TrainingProgress, fit
from bench.task.base import LoadedTask, TaskError

HOST = socket.gethostname()
KILLED_ERROR = "killed: the process ended while this trial ran (recorded by --resume)"
INTERRUPTED_ERROR = "interrupted by Ctrl-C"


@dataclass
class TrialScope:
    """One running trial. The backend sets `params`, then calls `build` and `fit`."""

    number: int
    backend_trial_id: str
    harness: Harness
    started_at_seconds: float = 0.0  # run clock when this trial's wall time began
    params: dict[str, Any] = field(default_factory=dict)
    progress: TrainingProgress = field(default_factory=TrainingProgress)
    initial_epoch: int = 0
    test_objective: float | None = None
    eval_seconds: float = 0.0
    build_seconds: float = 0.0
    execution: dict[str, Any] = field(default_factory=dict)  # the model's effective steps_per_execution and jit_compile
    bookkeeping_seconds: float = 0.0  # tunebench's own work outside fit: progress files, disk and memory readings, sampler state
    param_count: int | None = None
    values: dict[str, float] | None = None  # --objectives: each objective's value, once the backend asked for them

    def build(self, params: Mapping[str, Any]) -> Any:
        """Clear the Keras session (the same clean-up for every backend), then build the task's model."""
        import keras

        self.params = dict(params)
        self.harness.checkpoint(self)
        clear_keras_session(keras)
        started = time.perf_counter()
        model = self.harness.task.build(self.params)
        self.execution = self.harness.execution.apply(model)
        self.build_seconds += time.perf_counter() - started
        self.param_count = parameter_count(model)
        return model

    def fit(self, model: Any, *, epochs: int | None = None, initial_epoch: int = 0, callbacks: Sequence[Any] = ()) -> float:
        """Train up to `epochs` (the run's cap by default; never past the epoch budget); return the objective's best value."""
        harness = self.harness
        guard = harness.guard
        self.initial_epoch = initial_epoch
        wanted = guard.budget.max_epochs if epochs is None else epochs - initial_epoch
        last_epoch = initial_epoch + guard.epochs_for_trial(wanted)
        fit(model, harness.task, progress=self.progress, epochs=last_epoch, initial_epoch=initial_epoch,
            batch_size=harness.task.batch_size(self.params), callbacks=callbacks, guard=guard, patience=harness.patience,
            epoch_hook=lambda: harness.epoch_ended(self),
            # With several workers the run's best moves while this trial trains, and a tie may make it the run's best (the
            # lowest number wins one, whatever finished first): its best epoch's weights are kept in any case.
            weights_worth_keeping_above=None if harness.shared else harness.best_objective)
        if self.progress.best_objective is None:
            raise RuntimeError("the trial ended before any epoch finished")
        value, objective = self.progress.best_objective, harness.task.objective
        if harness.shared:  # another worker may have finished a better trial meanwhile; a tie needs a test score too
            with harness.bookkeeping():
                harness.best_objective = harness.guard.best()
            may_be_best = objective.better(value, harness.best_objective) or value == harness.best_objective
        else:  # trials finish in number order: the earlier one keeps a tie
            may_be_best = objective.better(value, harness.best_objective)
        if may_be_best:
            t0 = time.perf_counter()  # only a trial that may become the run's best needs its test score
            self.test_objective = harness.task.test_score(model)
            self.eval_seconds = time.perf_counter() - t0
        return self.progress.best_objective

    def search_values(self) -> tuple[float, ...]:
        """After `fit`: the run's search objectives (--objectives) for this trial, in their order, all from one model: the
        scored epoch (best by the task's objective), its parameter count, and the training seconds so far."""
        prog = self.progress
        logs = prog.logs[prog.best_index] if prog.best_index is not None else {}
        values = {}
        for objective in self.harness.objectives:
            if objective.name == "params":
                if self.param_count is None:
                    raise TaskError(f"task {self.harness.task.task.name}: its model cannot count its parameters (model.count_params()); "
                                    "drop params from --objectives")
                values[objective.name] = float(self.param_count)
            elif objective.name == "train_seconds":
                values[objective.name] = round(prog.train_seconds, 4)
            elif objective.name in logs:
                values[objective.name] = logs[objective.name]
            else:
                raise TaskError(f"--objectives {objective.name}: the model's epoch logs have no such metric (they have: "
                                f"{', '.join(logs) or 'nothing'}); name one it logs")
        self.values = values
        return tuple(values.values())


def parameter_count(model: Any) -> int | None:
    """The model's parameter count, or None for a model that cannot count them (e.g. not yet built)."""
    try:
        return int(model.count_params())
    except Exception:  # noqa: BLE001 - an unbuilt subclassed model raises ValueError; no count then
        return None


TrialListener = Callable[[TrialRecord], None]


class RunInterrupted(Exception):
    """The user pressed Ctrl-C during this trial: it is cut short and recorded as failed."""


class Harness:
    """Shared by all backends so that every limit and every record is produced the same way."""

    def __init__(
        self,
        *,
        task: LoadedTask,
        guard: BudgetGuard,
        folder: RunFolder,
        work_dir: Path,
        seed: int,
        recorded: Sequence[Mapping[str, Any]] = (),
        disk_peak: int = 0,
        listeners: Sequence[TrialListener] = (),
        patience: int | None = None,
        execution: ExecutionSettings | None = None,
        objectives: Sequence[SearchObjective] = (),
        worker: str | None = None,
    ) -> None:
        """`recorded`: the trials already in trials.jsonl (a resumed run); numbering continues after them."""
        self.task, self.guard, self.folder, self.work_dir, self.seed = task, guard, folder, work_dir, seed
        self.patience = patience  # early stopping after this many epochs without improvement (None: off)
        self.execution = execution or ExecutionSettings()
        self.objectives = tuple(objectives)  # --objectives (empty: the task's objective alone)
        self.worker = worker  # this process's name in a multi-worker run (its trials and running file carry it)
        self.shared = isinstance(guard, SharedGuard)  # the budget, trial numbers and best value are the run's, across workers
        self.task_error: TaskError | None = None  # the task broke the interface: the run stops and reports it
        self.recorded = {str(t["backend_trial_id"]): dict(t) for t in recorded}
        best = best_trial(list(recorded), task.objective)
        self.best_objective: float | None = None if best is None else best["objective"]  # of the complete trials so far
        self.next_number = len(recorded)
        self.listeners = list(listeners)
        self.pruned_exceptions: tuple[type[BaseException], ...] = ()
        self.disk = DiskMeter(work_dir, peak=disk_peak)
        self.disk.sample()
        self._last_mark = time.perf_counter()
        self._pending_bookkeeping = 0.0  # spent after the last trial's clock stopped: charged to the next trial
        self._scope: TrialScope | None = None
        self.process_startup_seconds: float | None = None  # from this process's start to its first trial
        self.trials_started = 0  # by this process
        self.holds = HoldPoints.from_environment()  # TUNEBENCH_HOLD_AT: stop trial N after epoch K until released (tests)
        self.outside_build_seconds = 0.0  # the task's builds outside trials (KerasTuner's to learn the space; Keras's warm-up)

    @contextlib.contextmanager
    def bookkeeping(self) -> Iterator[None]:
        """Time tunebench's own work around a trial (reported apart, so a backend is not billed for it)."""
        started = time.perf_counter()
        try:
            yield
        finally:
            spent = time.perf_counter() - started
            if self._scope is not None:
                self._scope.bookkeeping_seconds += spent
            else:
                self._pending_bookkeeping += spent

    def settle_stale(self, backend_trial_id: str, params: Mapping[str, Any]) -> dict[str, Any] | None:
        """For a trial the backend's storage still holds as running after a kill: the record tunebench wrote for it (a kill
        can fall between our record and the backend's own end of the trial), or None after recording it as failed (a kill
        before the harness's first checkpoint of it). Call before the resumed search starts."""
        if backend_trial_id in self.recorded:
            return self.recorded[backend_trial_id]
        number = self.next_number if not self.shared else self.guard.take_number()
        record = killed_trial_record({"backend_trial_id": backend_trial_id, "params": dict(params),
                                      "started_at_seconds": self.guard.seconds, "seconds": self.guard.seconds},
                                     number=number, metric=self.task.objective.metric)
        self.next_number += 1
        self.guard.count_trial()
        self.folder.append_trial(record)
        self.recorded[record.backend_trial_id] = json.loads(record.to_json())
        return None

    def build_outside_trial(self, params: Mapping[str, Any]) -> Any:
        """A build the backend makes outside any trial (KerasTuner's constructor builds once to learn the space): the
        task's cost, as every trial's build is, so it is timed apart (`outside_build_seconds`, in run.json)."""
        started = time.perf_counter()
        try:
            return self.task.build(dict(params))
        finally:
            self.outside_build_seconds += time.perf_counter() - started

    def mark(self, since: float | None = None) -> None:
        """Start counting the next trial's wall time from now (call when the backend's loop starts), or from `since` (a
        time.time() moment: e.g. the start of a process the library started for the trial)."""
        self._last_mark = time.perf_counter() - (0.0 if since is None else max(0.0, time.time() - since))

    @contextlib.contextmanager
    def trial(self, backend_trial_id: str) -> Iterator[TrialScope]:
        """Run one trial; record it as complete, pruned or failed; re-raise so the backend sees it too."""
        import keras

        if self.process_startup_seconds is None:
            self.process_startup_seconds = round(time.time() - process_started_at(), 3)
        started = self.guard.seconds - (time.perf_counter() - self._last_mark)
        number = self.next_number
        if self.shared:  # the number the backend claimed from the ledger before creating the trial; the run's best so far
            with self.bookkeeping():
                number = self.guard.claimed_number if self.guard.claimed_number is not None else self.guard.claim_trial()
                self.guard.claimed_number = None
                self.best_objective = self.guard.best()
        scope = TrialScope(number, str(backend_trial_id), self, started_at_seconds=started,
                           bookkeeping_seconds=self._pending_bookkeeping)
        self._pending_bookkeeping = 0.0
        self._scope = scope
        self.next_number += 1
        self.trials_started += 1
        with self.bookkeeping():
            self.checkpoint(scope)
            self.disk.sample()  # the previous trial's end-of-trial writes (Optuna's tell, KerasTuner's trial.json) are on disk now
        keras.utils.set_random_seed(trial_seed(self.seed, scope.number))
        try:
            yield scope
            if scope.progress.stopped_by == "interrupted":
                raise RunInterrupted(INTERRUPTED_ERROR)
        except RunInterrupted:
            self._record(scope, "failed", INTERRUPTED_ERROR)
            raise
        except (TaskError, SystemExit) as exc:  # not this trial's fault but the task's: every trial would fail the same way
            if isinstance(exc, SystemExit):  # the task's own code called sys.exit(): a task error, not the run's exit status
                exc = TaskError(f"task {self.task.task.name}: its code called sys.exit({excerpt(exc.code)}) during trial {scope.number}")
            self._record(scope, "failed", f"{type(exc).__name__}: {exc}")
            self.task_error = exc
            self.guard.interrupt()
            raise exc from None
        except KeyboardInterrupt:  # a second Ctrl-C: record what ran, then stop at once
            scope.progress.stopped_by = "interrupted"
            self._record(scope, "failed", INTERRUPTED_ERROR)
            raise
        except self.pruned_exceptions:
            if self.guard.interrupted:
                scope.progress.stopped_by = "interrupted"
                self._record(scope, "failed", INTERRUPTED_ERROR)
                raise RunInterrupted(INTERRUPTED_ERROR) from None
            self._record(scope, "pruned", None)
            raise
        except Exception as exc:
            if self.guard.interrupted:
                scope.progress.stopped_by = "interrupted"
                self._record(scope, "failed", INTERRUPTED_ERROR)
                raise RunInterrupted(INTERRUPTED_ERROR) from exc
            self._record(scope, "failed", f"{type(exc).__name__}: {exc}")
            raise
        else:
            self._record(scope, "complete", None)

    def epoch_ended(self, scope: TrialScope) -> None:
        """After every callback of an epoch: sample the disk (checkpoints included) and save the trial's progress.

        Runs inside tunebench's last callback, so its time is in the trial's `callback_seconds`.
        """
        self.disk.sample()
        self.checkpoint(scope)
        if self.holds is not None:  # a test's (or a user's) hold point: a fault lands here, not inside a timing window
            self.holds.reached(scope.number, scope.progress.epochs_run, worker=self.worker, backend_trial_id=scope.backend_trial_id)

    def checkpoint(self, scope: TrialScope) -> None:
        """Keep the running trial on disk, so that a resume after SIGKILL records it as failed with what it spent."""
        prog = scope.progress
        self.folder.write_running({
            "number": scope.number, "backend_trial_id": scope.backend_trial_id, "params": scope.params, "worker": self.worker,
            "started_at_seconds": round(scope.started_at_seconds, 4), "seconds": round(self.guard.seconds, 4),
            "epochs_run": prog.epochs_run, "initial_epoch": scope.initial_epoch, "objective_per_epoch": prog.objective,
            "val_loss_per_epoch": prog.val_loss, "train_seconds": round(prog.train_seconds, 4),
            "disk_bytes": self.disk.last.allocated, "disk_apparent_bytes": self.disk.last.apparent, "disk_peak_bytes": self.disk.peak,
            "host": HOST, "pid": os.getpid(),  # whose it is: a coordinator records it as killed once that process is gone
        })

    def _record(self, scope: TrialScope, state: str, error: str | None) -> None:
        with self.bookkeeping():
            disk = self.disk.sample()
            memory = resident_bytes()
        now = time.perf_counter()
        wall = now - self._last_mark
        self._last_mark = now
        self._scope = None  # what follows is counted for the next trial, since this one's clock has stopped
        prog = scope.progress
        with self.bookkeeping():  # the shared ledger's work (a locked file) is tunebench's, not the backend's
            self.guard.count_trial()
            if state == "complete" and self.shared and prog.best_objective is not None:
                self.guard.note_best(prog.best_objective, self.task.objective.better)
        if state == "complete" and self.task.objective.better(prog.best_objective, self.best_objective):
            self.best_objective = prog.best_objective
        first_epoch_extra, startup = startup_figures(scope.build_seconds, prog.epoch_seconds)
        record = TrialRecord(
            number=scope.number,
            backend_trial_id=scope.backend_trial_id,
            state=state,
            params=scope.params,
            objective=prog.best_objective,
            best_epoch=prog.best_epoch,
            test_objective=scope.test_objective if state == "complete" else None,
            objective_per_epoch=prog.objective,
            val_loss_per_epoch=prog.val_loss,
            epochs_run=prog.epochs_run,
            initial_epoch=scope.initial_epoch,
            stopped_by=prog.stopped_by,
            error=error,
            train_seconds=round(prog.train_seconds, 4),
            epoch_seconds=list(prog.epoch_seconds),
            build_seconds=round(scope.build_seconds, 4),
            steps_per_execution=scope.execution.get("steps_per_execution"),
            jit_compile=scope.execution.get("jit_compile"),
            first_epoch_extra_seconds=first_epoch_extra,
            startup_seconds=startup,
            fit_seconds=round(prog.fit_seconds, 4),
            callback_seconds=round(prog.callback_seconds, 4),
            eval_seconds=round(scope.eval_seconds, 4),
            overhead_seconds=round(max(0.0, wall - prog.train_seconds - scope.eval_seconds), 4),
            harness_seconds=round(prog.callback_seconds + scope.bookkeeping_seconds, 4),
            wall_seconds=round(wall, 4),
            finished_at_seconds=round(self.guard.seconds, 3),
            disk_bytes=disk.allocated,
            disk_apparent_bytes=disk.apparent,
            memory_rss_bytes=memory,
            metric=self.task.objective.metric,
            objectives=scope.values if state == "complete" else None,
            param_count=scope.param_count,
            logs_per_epoch=list(prog.logs),
            started_at_seconds=round(scope.started_at_seconds, 3),
            worker=self.worker,
        )
        with self.bookkeeping():
            self.folder.append_trial(record)
            self.recorded[record.backend_trial_id] = json.loads(record.to_json())
            for listener in self.listeners:  # run.json's budget_spent is rewritten here ...
                listener(record)
            self.folder.clear_running()  # ... before the running trial's file goes: a kill in between loses no seconds


def clear_keras_session(keras: Any) -> None:
    """Reset Keras's global state before each build, as the tutorial and KerasTuner do; no garbage collection here.

    KerasTuner also runs `gc.collect()` before its builds: that stays its own cost, and is not added to the others.
    """
    try:
        keras.backend.clear_session(free_memory=False)
    except TypeError:  # Keras releases without the argument
        keras.backend.clear_session()


def trial_seed(run_seed: int, number: int) -> int:
    """The Keras/NumPy/Python seed set before trial `number` (weights, shuffling, dropout)."""
    return (run_seed * 100_003 + number) % 2**32


def killed_trial_record(running: dict[str, Any], number: int, metric: str) -> TrialRecord:
    """The record of a trial that a killed process left running, from what it last saved (`Harness.checkpoint`)."""
    seconds, started = float(running.get("seconds", 0.0)), float(running.get("started_at_seconds", 0.0))
    return TrialRecord(
        number=number,
        backend_trial_id=str(running.get("backend_trial_id", "")),
        state="failed",
        params=dict(running.get("params") or {}),
        objective_per_epoch=list(running.get("objective_per_epoch") or []),
        val_loss_per_epoch=list(running.get("val_loss_per_epoch") or []),
        epochs_run=int(running.get("epochs_run", 0)),
        initial_epoch=int(running.get("initial_epoch", 0)),
        stopped_by="killed",
        error=KILLED_ERROR,
        train_seconds=float(running.get("train_seconds", 0.0)),
        wall_seconds=round(max(0.0, seconds - started), 4),
        overhead_seconds=round(max(0.0, seconds - started - float(running.get("train_seconds", 0.0))), 4),
        finished_at_seconds=round(seconds, 3),
        started_at_seconds=round(started, 3),
        worker=running.get("worker"),
        disk_bytes=int(running.get("disk_bytes", 0)),
        disk_apparent_bytes=int(running.get("disk_apparent_bytes", 0)),
        metric=metric,
    )
