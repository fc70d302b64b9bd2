"""The run folder: run.json (what was asked, spent and used) and trials.jsonl (one line per finished trial)."""

from __future__ import annotations

import fcntl
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bench.errors import UsageError
from bench.task.base import Objective

TRIAL_STATES = ("complete", "pruned", "failed")
RUNNING_DIR = "running"  # a multi-worker run's running-trial files, one per worker


@dataclass
class TrialRecord:
    """One finished trial, as written to trials.jsonl."""

    number: int
    backend_trial_id: str
    state: str
    params: dict[str, Any]
    objective: float | None = None  # the objective's metric at the best epoch (also written under the metric's own name)
    best_epoch: int | None = None
    test_objective: float | None = None  # the same metric on the held-out test split, best-epoch weights (complete trials)
    objective_per_epoch: list[float] = field(default_factory=list)
    val_loss_per_epoch: list[float] = field(default_factory=list)
    epochs_run: int = 0
    initial_epoch: int = 0
    stopped_by: str | None = None
    error: str | None = None
    train_seconds: float = 0.0
    epoch_seconds: list[float] = field(default_factory=list)  # each epoch's duration
    build_seconds: float = 0.0  # the task's build (model construction and compile), after the Keras session was cleared
    first_epoch_extra_seconds: float | None = None  # first epoch less the median of later ones: tracing/compilation (2+ epochs)
    startup_seconds: float | None = None  # build + the first epoch's extra (never below 0): what the trial paid before training
    steps_per_execution: int | None = None  # as the model was compiled for this trial (after --steps-per-execution)
    jit_compile: bool | None = None  # likewise (after --jit-compile)
    fit_seconds: float = 0.0
    callback_seconds: float = 0.0  # inside fit, in tunebench's own callbacks (part of the harness's cost)
    eval_seconds: float = 0.0
    overhead_seconds: float = 0.0  # wall time outside training and test evaluation: the backend's work and tunebench's
    harness_seconds: float = 0.0  # of the overhead, tunebench's own (its callbacks in fit, records, disk and memory readings)
    wall_seconds: float = 0.0
    finished_at_seconds: float = 0.0  # since the run's clock started
    started_at_seconds: float | None = None  # likewise, when the trial's wall time began
    worker: str | None = None  # the worker process that ran it (--workers N; None: the run's one process)
    disk_bytes: int = 0  # allocated (what `du` reports) in the backend's folder when the trial ended
    disk_apparent_bytes: int = 0  # the files' own sizes (`du --apparent-size`)
    memory_rss_bytes: int = 0  # resident memory of the process when the trial ended
    metric: str = "val_accuracy"  # the objective's metric, as the task's model logs it
    objectives: dict[str, float] | None = None  # --objectives: every objective's value at the scored epoch (complete trials)
    param_count: int | None = None  # the model's parameter count (model.count_params())
    logs_per_epoch: list[dict[str, float]] = field(default_factory=list)  # every epoch's Keras logs (train and validation metrics)

    def __post_init__(self) -> None:
        if self.state not in TRIAL_STATES:
            raise ValueError(f"trial state must be one of {TRIAL_STATES}, but got {self.state!r}")

    def to_dict(self) -> dict[str, Any]:
        """The record, with the objective also under the metric's own names (e.g. val_accuracy and test_accuracy)."""
        data = asdict(self)
        data.setdefault(self.metric, self.objective)
        data.setdefault("test_" + self.metric.removeprefix("val_"), self.test_objective)
        return data

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), allow_nan=True)


@dataclass
class RunRecord:
    """run.json as a run starts (or resumes): what was asked, on what, by which code. The fields that change as it goes
    (budget_spent, disk and memory figures, process_startup_seconds, pareto_trials, worker_processes) are rewritten after
    every trial, and the end adds status, error, stop_reason, trials_by_state, best_trial and the final disk figures."""

    run_id: str
    folder: str
    status: str
    pid: int
    host: str
    command_line: list[str]
    resumed_with: list[list[str]]
    killed_trials_recorded: int
    config: dict[str, Any]
    backend: str
    algorithm: str | None
    pruner: str | None
    seed: int
    seeds: dict[str, Any]
    space: dict[str, Any]
    task: dict[str, Any]
    objective: dict[str, str]
    objectives: list[dict[str, str]] | None  # --objectives (None: the task's objective alone)
    search: str  # how the backend's algorithm searched them
    budget: dict[str, Any]
    budget_spent: dict[str, Any]
    library_versions: dict[str, str]
    keras_backend: str
    device: str
    workers: int
    storage: str
    machine: dict[str, Any]
    concurrent_runs: int
    git_commit: str | None
    started_at: str
    ended_at: str | None
    work_dir: str
    pareto_trials: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self, previous: dict[str, Any] | None = None) -> dict[str, Any]:
        """The record as run.json holds it, over what an earlier session of the run recorded (`previous`)."""
        data = asdict(self)
        if self.objectives is None:
            data.pop("pareto_trials")
        return {**(previous or {}), **data}


def backend_seconds(trial: dict[str, Any]) -> float:
    """A trial's wall time billed to its backend: outside training and test evaluation (`overhead_seconds`), less the task's
    model build and compile (the task's cost, whichever backend asked for it) and tunebench's own bookkeeping."""
    return float(trial["overhead_seconds"]) - float(trial.get("harness_seconds", 0.0)) - float(trial.get("build_seconds", 0.0))


def startup_figures(build_seconds: float, epoch_seconds: list[float]) -> tuple[float | None, float | None]:
    """(first epoch's extra seconds, start-up seconds) of a trial; (None, None) when fewer than two epochs ran, since the
    first epoch's compilation cannot be told from training then."""
    import statistics

    if len(epoch_seconds) < 2:
        return None, None
    extra = epoch_seconds[0] - statistics.median(epoch_seconds[1:])
    return round(extra, 4), round(build_seconds + max(0.0, extra), 4)


def startup_share(trials: list[dict[str, Any]]) -> float | None:
    """Of the build and training seconds of the trials that ran 2+ epochs, the share spent starting up (build, plus the
    first epoch's tracing/compilation beyond a later epoch's time); None when no trial measured it."""
    measured = [t for t in trials if t.get("startup_seconds") is not None]
    total = sum(t["build_seconds"] + t["train_seconds"] for t in measured)
    return sum(t["startup_seconds"] for t in measured) / total if measured and total > 0 else None


def same_json(a: Any, b: Any) -> bool:
    """Whether two record values are the same once written as JSON (key order and tuples vs lists aside)."""
    return json.dumps(a, sort_keys=True, default=str) == json.dumps(b, sort_keys=True, default=str)


def count_states(trials: list[dict[str, Any]]) -> dict[str, int]:
    """Trials by state, every state present (recorded trial dicts as read from trials.jsonl)."""
    return {state: sum(1 for t in trials if t["state"] == state) for state in TRIAL_STATES}


def best_trial(trials: list[dict[str, Any]], objective: Objective) -> dict[str, Any] | None:
    """The complete trial with the best objective value (in the objective's direction); the earliest one wins a tie."""
    complete = [t for t in trials if t["state"] == "complete" and t.get("objective") is not None]
    return max(complete, key=lambda t: (objective.sort_key(t["objective"]), -t["number"]), default=None)


def upgrade_trial(trial: dict[str, Any]) -> dict[str, Any]:
    """A record written before tasks were pluggable (validation accuracy only) in today's form."""
    if "objective" not in trial and "val_accuracy" in trial:
        trial = {**trial, "objective": trial["val_accuracy"], "test_objective": trial.get("test_accuracy"),
                 "objective_per_epoch": trial.get("val_accuracy_per_epoch", []), "metric": "val_accuracy"}
    return trial


@dataclass(frozen=True)
class DiskUsage:
    """Bytes under a path: `allocated` as `du -B1` counts them (blocks, folders included, hard links once), `apparent` as `du -b`."""

    allocated: int = 0
    apparent: int = 0


def disk_usage(path: Path) -> DiskUsage:
    """What `du -s` reports for `path` (zeros when it does not exist); files vanishing mid-walk are skipped."""
    allocated = apparent = 0
    seen: set[tuple[int, int]] = set()

    def add(entry: str) -> None:
        nonlocal allocated, apparent
        try:
            st = os.lstat(entry)
        except OSError:
            return
        if (st.st_dev, st.st_ino) in seen:
            return
        seen.add((st.st_dev, st.st_ino))
        allocated += st.st_blocks * 512
        apparent += st.st_size

    if not os.path.lexists(path):
        return DiskUsage()
    add(str(path))
    for root, dirs, files in os.walk(path):
        for name in (*dirs, *files):
            add(os.path.join(root, name))
    return DiskUsage(allocated, apparent)


class DiskMeter:
    """Samples a folder's disk usage whenever asked and keeps the peak of the allocated bytes."""

    def __init__(self, path: Path, *, peak: int = 0) -> None:
        self.path = path
        self.peak = peak
        self.last = DiskUsage()

    def sample(self) -> DiskUsage:
        self.last = disk_usage(self.path)
        self.peak = max(self.peak, self.last.allocated)
        return self.last


def resident_bytes() -> int:
    """Resident memory of this process now."""
    import psutil

    return int(psutil.Process().memory_info().rss)


def peak_resident_bytes() -> int:
    """The highest resident memory this process has had, as the kernel reports it (getrusage's ru_maxrss)."""
    import resource
    import sys

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak if sys.platform == "darwin" else peak * 1024)


def _replace_json(path: Path, text: str) -> None:
    """Write atomically: a reader (or a resume after SIGKILL) sees the old file or the new one, never half."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


class RunFolder:
    """Writes a run's records; each trial line is flushed and fsynced as the trial ends."""

    def __init__(self, path: Path, worker: str | None = None) -> None:
        self.path = path
        self.run_json = path / "run.json"
        self.trials_jsonl = path / "trials.jsonl"
        # the trial in progress; left behind only by a killed process (one file per worker of a multi-worker run)
        self.running_json = path / "running_trial.json" if worker is None else path / RUNNING_DIR / f"{worker}.json"

    def create(self) -> None:
        self.path.mkdir(parents=True, exist_ok=False)

    def write_run(self, data: dict[str, Any]) -> None:
        _replace_json(self.run_json, json.dumps(data, indent=2, default=str) + "\n")

    def write_running(self, data: dict[str, Any]) -> None:
        try:
            _replace_json(self.running_json, json.dumps(data, allow_nan=True))
        except FileNotFoundError:  # a worker's first checkpoint: its folder is made now
            self.running_json.parent.mkdir(parents=True, exist_ok=True)
            _replace_json(self.running_json, json.dumps(data, allow_nan=True))

    def running_files(self) -> list[Path]:
        """Every running-trial file a killed process may have left: the single process's and each worker's."""
        return [p for p in [self.path / "running_trial.json", *sorted((self.path / RUNNING_DIR).glob("*.json"))] if p.exists()]

    def read_running(self) -> dict[str, Any] | None:
        try:
            return json.loads(self.running_json.read_text(encoding="utf-8"))
        except (FileNotFoundError, json.JSONDecodeError):
            return None

    def clear_running(self) -> None:
        self.running_json.unlink(missing_ok=True)

    def read_run(self) -> dict[str, Any]:
        try:
            return json.loads(self.run_json.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise UsageError(f"{self.path}: no run.json; is this a run folder?") from None
        except json.JSONDecodeError as exc:
            raise UsageError(f"{self.run_json}: not valid JSON ({exc.msg} at line {exc.lineno})") from None

    def append_trial(self, record: TrialRecord) -> None:
        with open(self.trials_jsonl, "a+b") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)  # workers of one run append to the same file; released when it closes
            handle.seek(0, os.SEEK_END)
            if handle.tell() > 0:  # a line cut off by a kill must not swallow this one
                handle.seek(-1, os.SEEK_END)
                if handle.read(1) != b"\n":
                    handle.write(b"\n")
            handle.write((record.to_json() + "\n").encode("utf-8"))
            handle.flush()
            os.fsync(handle.fileno())

    def read_trials(self) -> tuple[list[dict[str, Any]], list[str]]:
        """Complete lines as dicts, and a note for each line that could not be read (a cut-off last line)."""
        if not self.trials_jsonl.exists():
            return [], []
        trials, skipped = [], []
        lines = self.trials_jsonl.read_text(encoding="utf-8").splitlines()
        for i, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                trials.append(upgrade_trial(json.loads(line)))
            except json.JSONDecodeError:
                skipped.append(f"{self.trials_jsonl}: line {i} is cut off or not JSON; skipped")
        return trials, skipped
