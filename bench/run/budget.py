"""One budget for every backend, and the guard that enforces it the same way in each."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass

from bench.errors import UsageError, excerpt

DEFAULT_TRIALS = 10  # the trial count when no limit at all is given


@dataclass(frozen=True)
class Budget:
    """What a run may spend. `None` means unlimited; with no limit given, the run gets DEFAULT_TRIALS trials.

    `--epoch-budget` or `--time-budget` alone is the whole budget: the trial count is then unlimited.
    """

    trials: int | None = None
    max_epochs: int = 10
    epoch_budget: int | None = None
    time_budget: float | None = None

    def __post_init__(self) -> None:
        for key in ("trials", "max_epochs", "epoch_budget"):
            value = getattr(self, key)
            if value is not None and (not isinstance(value, int) or value < 1):
                raise UsageError(f"--{key.replace('_', '-')} must be a positive integer, but got {excerpt(value)}")
        if self.time_budget is not None and not 0 < self.time_budget < float("inf"):
            raise UsageError(f"--time-budget must be positive, finite seconds, but got {excerpt(self.time_budget)}")
        if self.trials is None and self.epoch_budget is None and self.time_budget is None:
            object.__setattr__(self, "trials", DEFAULT_TRIALS)

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


class BudgetGuard:
    """Counts trials, epochs and seconds; says when any limit is reached."""

    def __init__(self, budget: Budget, *, trials: int = 0, epochs: int = 0, seconds: float = 0.0, started: float | None = None) -> None:
        """`started`: the time.monotonic() at which this session's clock began (default: now)."""
        self.budget = budget
        self.trials = trials
        self.epochs = epochs
        self._seconds_before = seconds
        self._started = time.monotonic() if started is None else started
        self.interrupted = False

    def interrupt(self) -> None:
        """The user asked to stop (Ctrl-C): no new trial starts, the running one stops at the next batch."""
        self.interrupted = True

    @property
    def seconds(self) -> float:
        return self._seconds_before + time.monotonic() - self._started

    def seconds_left(self) -> float | None:
        if self.budget.time_budget is None:
            return None
        return max(0.0, self.budget.time_budget - self.seconds)

    def epochs_left(self) -> int | None:
        return None if self.budget.epoch_budget is None else max(0, self.budget.epoch_budget - self.epochs)

    def trials_left(self) -> int | None:
        return None if self.budget.trials is None else max(0, self.budget.trials - self.trials)

    def out_of_time(self) -> bool:
        left = self.seconds_left()
        return left is not None and left <= 0

    def exhausted(self) -> str | None:
        """The name of the first limit reached ('interrupted', 'trials', 'epochs', 'time'), or None."""
        if self.interrupted:
            return "interrupted"
        if self.trials_left() == 0:
            return "trials"
        if self.epochs_left() == 0:
            return "epochs"
        if self.out_of_time():
            return "time"
        return None

    def epochs_for_trial(self, wanted: int | None = None) -> int:
        """Epochs the next trial may run: its own cap, never past the epoch budget."""
        cap = self.budget.max_epochs if wanted is None else wanted
        left = self.epochs_left()
        return cap if left is None else min(cap, left)

    def count_epoch(self) -> None:
        self.epochs += 1

    def count_trial(self) -> None:
        self.trials += 1

    def spent(self) -> dict[str, float | int]:
        return {"trials": self.trials, "epochs": self.epochs, "seconds": round(self.seconds, 3)}
