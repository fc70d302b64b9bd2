"""How a run's Ray Tune experiment ends (imports Ray): at tunebench's budget (Ray's `Stopper`), or resumably at Ctrl-C
(Ray's own interruption, once every trial has recorded how it stopped)."""

from __future__ import annotations

import json
import signal
import sys
import threading
from pathlib import Path
from typing import Any

from ray import tune

INTERRUPTED = "interrupted"
STOPPING = "stopping: every running trial is cut short and recorded as failed (Ctrl-C again to stop at once)"


class BudgetStopper(tune.Stopper, tune.Callback):
    """Ends the experiment once the run's budget is spent and no trial still has work to finish: none running under the
    harness or about to train its first epoch (trials stop themselves at the budget, and record what they did, first),
    and none recorded whose end Ray has not yet taken in (its error would be lost). A trial Ray has started that has not
    yet claimed its place in the budget is stopped with the experiment: it is no trial.

    Ctrl-C is not a stop (Ray would mark its search finished, and a resume would run nothing more): the run's ledger
    says "interrupted", every trial stops at its next batch and records itself failed, and then Ray's own Ctrl-C handler
    is called, which ends the experiment as Ray ends an interrupted one, resumable with `Tuner.restore`. A second Ctrl-C
    calls it at once. Also a Callback: to install that handler, and to see which trials Ray has running."""

    def __init__(self, run_dir: Path, budget: Any) -> None:
        self.run_dir, self.budget = str(run_dir), budget
        self.ray_running: set[str] = set()
        self._ray_sigint: Any = None
        self._interrupted = self._handed_to_ray = False

    def __getstate__(self) -> dict[str, Any]:
        return {"run_dir": self.run_dir, "budget": self.budget}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(Path(state["run_dir"]), state["budget"])  # type: ignore[misc]

    def setup(self, **info: Any) -> None:
        """Called after Ray installed its Ctrl-C handler for the run (tune.run: signal catching, then the controller)."""
        if threading.current_thread() is threading.main_thread() and callable(signal.getsignal(signal.SIGINT)):
            self._ray_sigint = signal.getsignal(signal.SIGINT)
            signal.signal(signal.SIGINT, self._on_sigint)

    def _on_sigint(self, signum: int, frame: Any) -> None:
        if self._interrupted:
            self._hand_to_ray()
            return
        self._interrupted = True
        print(f"\n{STOPPING}", file=sys.stderr)
        self._guard().ledger.stop(INTERRUPTED)  # the trial processes read it within half a second

    def _hand_to_ray(self) -> None:
        if not self._handed_to_ray and self._ray_sigint is not None:
            self._handed_to_ray = True
            self._ray_sigint(signal.SIGINT, None)

    def _guard(self) -> Any:
        from bench.run.ledger import Ledger, SharedGuard

        return SharedGuard(self.budget, Ledger(Path(self.run_dir)), worker="ray-stopper")

    def _settled(self, guard: Any) -> bool:
        """No trial has work left to record, and Ray has taken in the end of every recorded one."""
        folder = Path(self.run_dir)
        if guard.ledger.read().get("pending") or any((folder / "running").glob("*.json")):
            return False
        path = folder / "trials.jsonl"
        lines = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
        recorded = {str(json.loads(line).get("backend_trial_id")) for line in lines if line.strip().endswith("}")}
        return not (self.ray_running & recorded)

    def on_step_begin(self, iteration: int, trials: list[Any], **info: Any) -> None:
        self.ray_running = {str(t.trial_id) for t in trials if t.status == "RUNNING"}
        if self._interrupted and not self._handed_to_ray and self._settled(self._guard()):
            self._hand_to_ray()

    def __call__(self, trial_id: str, result: dict[str, Any]) -> bool:
        return False

    def stop_all(self) -> bool:
        guard = self._guard()
        reason = guard.exhausted()
        if reason is None or (reason == INTERRUPTED and self._ray_sigint is not None):
            return False  # (interrupted: Ray's own handler ends it, resumably)
        return self._settled(guard)
