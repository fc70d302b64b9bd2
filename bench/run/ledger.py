"""One budget shared by every worker process of a run: a small JSON ledger in the run folder, changed under a file lock.

Workers on this machine (and on others that mount the run folder) claim each trial before the backend creates it, count
every epoch and finished trial here, and read the run's clock from its origin. A limit reached stops new claims at once;
trials already running finish their epoch (that overshoot is recorded in run.json).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bench.run.budget import Budget, BudgetGuard

LEDGER_FILE = "ledger.json"


class Ledger:
    """The run's shared counts: trials claimed and finished, epochs, the clock's origin, the best complete objective."""

    def __init__(self, run_dir: Path) -> None:
        self.path = run_dir / LEDGER_FILE
        self.lock_path = run_dir / (LEDGER_FILE + ".lock")

    def create(self, *, trials: int, epochs: int, seconds: float) -> None:
        """A new (or resumed) run's ledger: what earlier sessions spent, and the clock running on from there."""
        self._write({"claimed": trials, "finished": trials, "next": trials, "epochs": epochs, "origin": time.time() - seconds,
                     "stopped": None, "best": None, "pending": {}})

    @contextlib.contextmanager
    def locked(self) -> Iterator[dict[str, Any]]:
        """The ledger, read under an exclusive lock; changes to the dict are written back when the block ends."""
        with open(self.lock_path, "a+") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                state = self.read()
                before = dict(state)
                yield state
                if state != before:
                    self._write(state)
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def read(self) -> dict[str, Any]:
        return json.loads(self.path.read_text(encoding="utf-8"))

    def _write(self, state: dict[str, Any]) -> None:
        tmp = self.path.with_name(f"{self.path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(state), encoding="utf-8")
        os.replace(tmp, self.path)

    def stop(self, reason: str) -> None:
        with self.locked() as state:
            state["stopped"] = state["stopped"] or reason

    def forget_worker(self, worker: str, *, started: bool) -> None:
        """A worker process ended (killed, or its search over): drop what it held. `started`: its pending claim became a
        trial (recorded failed by the caller); otherwise no trial used the claim, and it goes back to the budget."""
        with self.locked() as state:
            number = state.setdefault("pending", {}).pop(worker, None)
            if number is not None and not started:
                state["claimed"] -= 1


class SharedGuard(BudgetGuard):
    """A BudgetGuard whose counts are the ledger's: every worker of the run spends the same budget.

    A claim stays pending in the ledger (under the worker's name) until its trial's first epoch ends or the trial ends.
    Under an epoch budget each pending claim holds one epoch: no new claim and no other trial's next epoch may take it, so
    every claimed trial trains at least one epoch (one that got none was never started, and would be no trial at all).
    """

    def __init__(self, budget: Budget, ledger: Ledger, worker: str | None = None) -> None:
        self.ledger = ledger
        self.worker = worker or f"pid-{os.getpid()}"
        state = ledger.read()
        self._origin = float(state["origin"])
        super().__init__(budget, trials=state["finished"], epochs=state["epochs"])
        self.claimed_number: int | None = None  # the trial number this worker claimed and has not started yet
        self.claim_refused = False  # a claim was refused (a limit, a stop, or epochs held by others' pending trials)

    @property
    def seconds(self) -> float:
        return time.time() - self._origin

    def _held_by_others(self, state: dict[str, Any]) -> int:
        """Epochs held for other workers' claimed trials that have not finished their first epoch (epoch budgets only)."""
        if self.budget.epoch_budget is None:
            return 0
        pending = state.get("pending") or {}
        return len(pending) - (1 if self.worker in pending else 0)

    def _limits(self, state: dict[str, Any], *, claimed: bool) -> str | None:
        self.trials, self.epochs = state["finished"], state["epochs"]
        if self.interrupted or state.get("stopped") == "interrupted":
            return "interrupted"
        if self.budget.epoch_budget is not None and state["epochs"] + self._held_by_others(state) >= self.budget.epoch_budget:
            return "epochs"  # before trials: a running trial must stop at the epoch budget even once every trial is claimed
        if self.out_of_time():
            return "time"
        used = state["claimed"] if claimed else state["finished"]
        if self.budget.trials is not None and used >= self.budget.trials:
            return "trials"
        return None

    def refresh(self) -> None:
        """Take the run's counts from the ledger (for what is shown and written between this process's own calls)."""
        state = self.ledger.read()
        self.trials, self.epochs = state["finished"], state["epochs"]

    def exhausted(self) -> str | None:
        """As BudgetGuard's, with trials counted as claimed: a trial another worker is running is spent already."""
        return self._limits(self.ledger.read(), claimed=True)

    def claim_trial(self) -> int | None:
        """The next trial's number, or None when a limit is reached or the run was stopped (no trial may start then)."""
        with self.ledger.locked() as state:
            if state.get("stopped") or self._limits(state, claimed=True) is not None:
                self.claimed_number = None
                self.claim_refused = True
                return None
            self.claimed_number = state.get("next", state["claimed"])
            state["claimed"] += 1
            state["next"] = self.claimed_number + 1
            state.setdefault("pending", {})[self.worker] = self.claimed_number
            return self.claimed_number

    def release_claim(self) -> None:
        """Give back a claim no trial used (the backend had nothing left to try): the trial budget and its number return."""
        if self.claimed_number is None:
            return
        with self.ledger.locked() as state:
            state["claimed"] -= 1
            if state.get("next") == self.claimed_number + 1:
                state["next"] = self.claimed_number
            state.setdefault("pending", {}).pop(self.worker, None)
        self.claimed_number = None

    def take_number(self) -> int:
        """A trial number whatever the budget says: for a trial that already ran (a killed one being recorded)."""
        with self.ledger.locked() as state:
            number = state.get("next", state["claimed"])
            state["next"] = number + 1
            return number

    def epochs_for_trial(self, wanted: int | None = None) -> int:
        """As BudgetGuard's, but a claimed trial gets its first epoch whatever the others spent meanwhile."""
        epochs = super().epochs_for_trial(wanted)
        first = self.worker in (self.ledger.read().get("pending") or {})
        return max(epochs, 1) if first and (wanted is None or wanted > 0) else epochs

    def count_epoch(self) -> None:
        with self.ledger.locked() as state:
            state["epochs"] += 1
            state.setdefault("pending", {}).pop(self.worker, None)
            self.epochs = state["epochs"]

    def count_trial(self) -> None:
        """A trial of this worker ended (a killed one recorded by the coordinator: `Ledger.forget_worker` drops its claim)."""
        with self.ledger.locked() as state:
            state["finished"] += 1
            state.setdefault("pending", {}).pop(self.worker, None)
            self.trials = state["finished"]

    def note_best(self, value: float, better: Any) -> None:
        """Keep the run's best complete objective (for which trials need a test score), across workers."""
        with self.ledger.locked() as state:
            if better(value, state.get("best")):
                state["best"] = value

    def best(self) -> float | None:
        return self.ledger.read().get("best")

    def trials_left(self) -> int | None:
        if self.budget.trials is None:
            return None
        return max(0, self.budget.trials - self.ledger.read()["claimed"])

    def epochs_left(self) -> int | None:
        if self.budget.epoch_budget is None:
            return None
        state = self.ledger.read()
        return max(0, self.budget.epoch_budget - state["epochs"] - self._held_by_others(state))

    def spent(self) -> dict[str, float | int]:
        state = self.ledger.read()
        return {"trials": state["finished"], "epochs": state["epochs"], "seconds": round(self.seconds, 3)}
