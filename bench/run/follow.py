"""Following trials that other processes run and record: the lines they append to trials.jsonl, and the running-trial
files they leave when killed. Used by the coordinator of worker processes, and by a run whose backend's library runs
each trial in a process of its own (`Backend.trials_in_own_processes`, e.g. Ray Tune's actors)."""

from __future__ import annotations

import dataclasses
import json
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.run.environment import process_alive
from bench.run.ledger import Ledger, SharedGuard
from bench.run.records import RunFolder, TrialRecord, best_trial

POLL_SECONDS = 0.2


def start_ledger(folder: RunFolder, done: list[dict[str, Any]], seconds: float, objective: Any) -> Ledger:
    """The run's shared ledger for this session: what earlier sessions spent (`done`, `seconds`), numbers continuing after
    the highest recorded one, and the best complete objective so far."""
    ledger = Ledger(folder.path)
    ledger.create(trials=len(done), epochs=sum(t["epochs_run"] for t in done), seconds=seconds)
    with ledger.locked() as state:
        state["next"] = max([int(t["number"]) + 1 for t in done] + [len(done)])
        best = best_trial(done, objective)
        state["best"] = None if best is None else best["objective"]
    return ledger


def session_startup_seconds(ledger: Ledger, trials: list[dict[str, Any]], spent_before: float) -> float | None:
    """From this command's process start to the first trial of this session (in any process): interpreter, imports, data,
    the backend's set-up and its trial processes' own start. None before any trial of this session."""
    from bench.run.environment import process_started_at

    session = [float(t["started_at_seconds"]) for t in trials
               if t.get("started_at_seconds") is not None and float(t["started_at_seconds"]) >= spent_before]
    if not session:
        return None
    return round(float(ledger.read()["origin"]) + min(session) - process_started_at(), 3)


class TrialsTail:
    """The lines appended to a run's trials.jsonl since the last read, as TrialRecords (a line a kill cut off is skipped)."""

    def __init__(self, folder: RunFolder) -> None:
        self.path = folder.trials_jsonl
        self.offset = 0
        self.fields = {f.name for f in dataclasses.fields(TrialRecord)}

    def skip_existing(self) -> None:
        """Start after what the file holds now (trials of earlier sessions)."""
        self.offset = self.path.stat().st_size if self.path.exists() else 0

    def read(self) -> list[TrialRecord]:
        if not self.path.exists():
            return []
        with open(self.path, "rb") as handle:
            handle.seek(self.offset)
            chunk = handle.read()
        complete = chunk[: chunk.rfind(b"\n") + 1]
        self.offset += len(complete)
        records = []
        for line in complete.decode("utf-8").splitlines():
            if line.strip():
                try:
                    data = json.loads(line)
                except json.JSONDecodeError:  # a line a killed worker cut off (read_trials skips it too)
                    continue
                records.append(TrialRecord(**{k: v for k, v in data.items() if k in self.fields}))
        return records


def record_lost_trial(folder: RunFolder, guard: SharedGuard, worker: str, metric: str) -> tuple[dict[str, Any] | None, bool]:
    """The trial a killed process (worker `worker`) was running: recorded failed now, from its last checkpoint, and its
    running file removed. Returns that checkpoint (None: nothing was running) and whether a record was written (not when
    the trial's own record made it to trials.jsonl just before the kill)."""
    from bench.run.harness import killed_trial_record

    path = RunFolder(folder.path, worker=worker).running_json
    try:
        running = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None, False  # killed between trials: nothing was running
    recorded = {str(t["backend_trial_id"]) for t in folder.read_trials()[0]}
    written = str(running.get("backend_trial_id")) not in recorded
    if written:
        folder.append_trial(killed_trial_record(running, number=int(running["number"]), metric=metric))
        guard.count_trial()  # its epochs were counted as they ended
    path.unlink(missing_ok=True)
    return running, written


def lost_running_files(folder: RunFolder, *, skip: set[str] = frozenset(), stale_seconds: float | None = None) -> list[Path]:
    """Running-trial files whose process is gone: on this machine its pid no longer runs; elsewhere the file has not been
    rewritten for `stale_seconds` (it is at every epoch end; None: never judged by age). `skip`: workers whose end the
    caller watches itself."""
    lost = []
    for path in sorted((folder.path / "running").glob("*.json")):
        try:
            running = json.loads(path.read_text(encoding="utf-8"))
            age = time.time() - path.stat().st_mtime
        except (OSError, json.JSONDecodeError):
            continue
        if running.get("worker") in skip:
            continue
        if running.get("host") == socket.gethostname() and running.get("pid") is not None:
            if not process_alive(running["pid"]):
                lost.append(path)
        elif stale_seconds is not None and age > stale_seconds:
            lost.append(path)
    return lost


class TrialFollower:
    """While a backend's library runs the trials in processes of its own: every new record reaches the run's listeners
    (progress, run.json, TensorBoard), a trial whose process was killed is recorded failed at once, and a Ctrl-C in this
    process reaches the trial processes through the ledger. A thread of this process, polling."""

    def __init__(self, folder: RunFolder, guard: SharedGuard, metric: str, on_record: Callable[[TrialRecord], None]) -> None:
        self.folder, self.guard, self.metric, self.on_record = folder, guard, metric, on_record
        self.tail = TrialsTail(folder)
        self.tail.skip_existing()
        self.killed: list[dict[str, Any]] = []  # running-trial checkpoints of killed trial processes, with killed_at
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="trial-follower", daemon=True)
        self._lock = threading.Lock()

    def __enter__(self) -> TrialFollower:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.poll()

    def _loop(self) -> None:
        while not self._stop.wait(POLL_SECONDS):
            self.poll()

    def poll(self) -> None:
        with self._lock:
            stopped = self.guard.ledger.read().get("stopped")
            if self.guard.interrupted and stopped is None:
                self.guard.ledger.stop("interrupted")  # the trial processes read it at their next batch
            elif stopped == "interrupted" and not self.guard.interrupted:
                self.guard.interrupt()  # the library's own Ctrl-C handler stopped the run through the ledger
            for path in lost_running_files(self.folder):
                running, _ = record_lost_trial(self.folder, self.guard, path.stem, self.metric)
                if running is not None:
                    self.guard.ledger.forget_worker(path.stem, started=True)
                    self.killed.append({**running, "killed_at": time.time()})
            records = self.tail.read()
            if records:
                self.guard.refresh()
            for record in records:
                self.on_record(record)
