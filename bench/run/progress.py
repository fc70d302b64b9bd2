"""Live console display of a run (rich), and its end-of-run summary."""

from __future__ import annotations

from typing import Any

from bench.run.budget import BudgetGuard
from bench.run.records import TrialRecord, count_states
from bench.task.base import Objective


def human_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"


class ProgressView:
    """Trial n of N, best so far, elapsed and time left: a live bar on a terminal, one plain line per trial otherwise
    (CI logs, pipes); silent when quiet."""

    def __init__(self, guard: BudgetGuard, objective: Objective, *, quiet: bool, title: str) -> None:
        self.guard, self.objective, self.quiet, self.title = guard, objective, quiet, title
        self.best: float | None = None
        self.walls: list[float] = []
        self._progress: Any = None
        self._task: Any = None
        self._plain = False

    def __enter__(self) -> ProgressView:
        if self.quiet:
            return self
        from rich.console import Console

        if not Console().is_terminal:
            self._plain = True
            return self
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self._progress = Progress(
            TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("trials"),
            TimeElapsedColumn(), TextColumn("{task.fields[status]}"), transient=False,
        )
        self._progress.__enter__()
        self._task = self._progress.add_task(self.title, total=self.guard.budget.trials, completed=self.guard.trials, status="starting")
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._progress is not None:
            self._progress.__exit__(*exc)

    def time_left(self) -> float | None:
        left = self.guard.seconds_left()
        trials_left = self.guard.trials_left()
        if trials_left is not None and self.walls:
            estimate = trials_left * sum(self.walls) / len(self.walls)
            left = estimate if left is None else min(left, estimate)
        return left

    def on_trial(self, record: TrialRecord) -> None:
        self.walls.append(record.wall_seconds)
        if record.state == "complete" and self.objective.better(record.objective, self.best):
            self.best = record.objective
        if self._plain:
            print(self.plain_line(record), flush=True)
        if self._progress is None:
            return
        left = self.time_left()
        status = f"best {self.objective.metric} {self.best:.4g}" if self.best is not None else "best -"
        status += f" | last: {record.state}" + (f" ({record.error[:60]})" if record.error else "")
        status += f" | {self.guard.epochs} epochs | left ~{left:.0f}s" if left is not None else f" | {self.guard.epochs} epochs"
        self._progress.update(self._task, completed=self.guard.trials, status=status)

    def plain_line(self, record: TrialRecord) -> str:
        """One trial as one line: `optuna/tpe trial 3/10 complete val_accuracy 0.91 (best 0.93) | 6 epochs | 12 s, ~20 s left`."""
        total = self.guard.budget.trials
        value = "-" if record.objective is None else f"{record.objective:.4g}"
        best = "-" if self.best is None else f"{self.best:.4g}"
        line = f"{self.title} trial {self.guard.trials}/{total or '∞'} {record.state} {self.objective.metric} {value} (best {best})"
        if record.error:
            line += f" [{record.error[:80]}]"
        left = self.time_left()
        line += f" | {self.guard.epochs} epochs | {self.guard.seconds:.0f} s" + ("" if left is None else f", ~{left:.0f} s left")
        return line


def print_summary(run: dict[str, Any], trials: list[dict[str, Any]]) -> None:
    """The end-of-run summary: best params, accuracies, wall time, trials by state, epochs, disk."""
    from rich.console import Console
    from rich.table import Table

    console = Console()
    states = count_states(trials)
    spent, given = run["budget_spent"], run["budget"]
    table = Table(title=f"run {run['run_id']} ({run['status']})", show_header=False)
    table.add_row("backend", f"{run['backend']} / {run['algorithm']}" + (f" + {run['pruner']} pruner" if run.get("pruner") not in (None, "none") else ""))
    best = run.get("best_trial")
    if best:
        objective = Objective.from_record(run)
        test = best.get("test_objective")
        table.add_row("best trial", f"#{best['number']}: {objective.metric} {best['objective']:.4g} ({objective.direction}imised), "
                                    f"{objective.test_metric} {'-' if test is None else f'{test:.4g}'}")
        table.add_row("best params", ", ".join(f"{k}={v}" for k, v in best["params"].items()))
    else:
        table.add_row("best trial", "none completed")
    if run.get("objectives"):
        names = ", ".join(f"{o['name']} ({o['direction']})" for o in run["objectives"])
        front = run.get("pareto_trials") or []
        table.add_row("objectives", f"{names}; searched: {run.get('search')}")
        table.add_row("Pareto front", f"{len(front)} trials: " + "; ".join(
            f"#{p['number']} " + ", ".join(f"{k} {v:.4g}" for k, v in p["values"].items()) for p in front[:6])
            + (" ..." if len(front) > 6 else ""))
    table.add_row("trials", f"{spent['trials']} of {given['trials'] or '∞'} ({', '.join(f'{v} {k}' for k, v in states.items())})")
    table.add_row("epochs", f"{spent['epochs']} of {given['epoch_budget'] or '∞'} (≤{given['max_epochs']} per trial)")
    table.add_row("wall time", f"{spent['seconds']:.1f} s of {given['time_budget'] or '∞'}")
    table.add_row("disk", f"{human_bytes(run['disk_bytes_final'])} final, {human_bytes(run['disk_bytes_peak'])} peak, as du counts it "
                          f"({run['work_dir']})")
    if run.get("memory_peak_bytes"):
        rss = [t["memory_rss_bytes"] for t in trials if t.get("memory_rss_bytes")]
        growth = f", {human_bytes(rss[-1] - rss[0])} more after the last trial than after the first" if len(rss) > 1 else ""
        table.add_row("memory", f"{human_bytes(run['memory_peak_bytes'])} peak resident{growth}")
    if run.get("stop_reason"):
        table.add_row("stopped by", run["stop_reason"])
    table.add_row("records", run["folder"])
    console.print(table)
