"""Hold points: stop trial N after its epoch K until released, so that a fault (SIGKILL, Ctrl-C, a worker joining) lands at
a known point of a run rather than inside a timing window.

Set by the environment of a `bench run` (or a worker, or `bench join`), for tests and for reproducing a fault by hand:

    TUNEBENCH_HOLD_DIR=/tmp/holds TUNEBENCH_HOLD_AT=3:1,5:2 python -m bench run ...

(`*:1`: every trial, after its first epoch.) When trial 3 has finished its first epoch (its running-trial checkpoint on disk, its epoch counted in the budget), the
process writes `held-3-1.json` (pid, worker, backend trial id) in the folder and waits until `release-3-1` exists there
(or `RELEASE_ALL`). Nothing is read when TUNEBENCH_HOLD_AT is unset: the check is one attribute test per epoch.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

HOLD_AT_VARIABLE = "TUNEBENCH_HOLD_AT"
HOLD_DIR_VARIABLE = "TUNEBENCH_HOLD_DIR"
RELEASE_ALL = "RELEASE_ALL"
MAX_HOLD_SECONDS = 900.0  # a forgotten hold ends by itself: a test that died must not leave a run waiting for ever


@dataclass(frozen=True)
class HoldPoints:
    """Where this process stops: (trial number, epoch) pairs, the folder that says when to go on."""

    points: frozenset[tuple[int | None, int]]  # (trial number, or None for any trial; epoch)
    folder: Path

    @classmethod
    def from_environment(cls) -> HoldPoints | None:
        text = os.environ.get(HOLD_AT_VARIABLE, "").strip()
        if not text:
            return None
        points = set()
        for item in text.split(","):
            number, _, epoch = item.strip().partition(":")
            if not ((number.isdigit() or number == "*") and epoch.isdigit()):
                raise ValueError(f"{HOLD_AT_VARIABLE}={text!r}: give TRIAL:EPOCH pairs, e.g. 3:1,5:2 or *:1")
            points.add((None if number == "*" else int(number), int(epoch)))
        return cls(frozenset(points), Path(os.environ.get(HOLD_DIR_VARIABLE) or "."))

    def reached(self, number: int, epoch: int, *, worker: str | None, backend_trial_id: str) -> None:
        """At the end of trial `number`'s epoch `epoch` (1-based): hold here if asked to, until released."""
        if (number, epoch) not in self.points and (None, epoch) not in self.points:
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        note = {"trial": number, "epoch": epoch, "pid": os.getpid(), "worker": worker, "backend_trial_id": backend_trial_id}
        tmp = self.folder / f".held-{number}-{epoch}.{os.getpid()}.tmp"
        tmp.write_text(json.dumps(note), encoding="utf-8")
        os.replace(tmp, self.folder / f"held-{number}-{epoch}.json")
        deadline = time.monotonic() + MAX_HOLD_SECONDS
        release = (self.folder / f"release-{number}-{epoch}", self.folder / RELEASE_ALL)
        while not any(path.exists() for path in release) and time.monotonic() < deadline:
            time.sleep(0.01)
