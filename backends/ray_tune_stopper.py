"""The Ray Tune `Stopper` that ends a run's experiment when tunebench's shared budget is spent (imports Ray)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ray import tune


class BudgetStopper(tune.Stopper):
    """Ends the whole experiment once the run's budget is spent (or the run was interrupted) and no trial is running or
    about to train its first epoch: trials stop themselves at the budget, and record what they did, first."""

    def __init__(self, run_dir: Path, budget: Any) -> None:
        self.run_dir, self.budget = str(run_dir), budget

    def __call__(self, trial_id: str, result: dict[str, Any]) -> bool:
        return False

    def stop_all(self) -> bool:
        from bench.run.ledger import Ledger, SharedGuard

        folder = Path(self.run_dir)
        guard = SharedGuard(self.budget, Ledger(folder), worker="ray-stopper")
        if guard.exhausted() is None:
            return False
        return not guard.ledger.read().get("pending") and not any((folder / "running").glob("*.json"))
