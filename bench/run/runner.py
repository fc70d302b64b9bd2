"""`bench run`: one backend, one algorithm, one seed, under one budget; everything recorded."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import re
import secrets
import signal
import socket
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from backends.registry import DEFAULT_BACKEND
from bench.errors import UsageError, excerpt
from bench.run.budget import Budget, BudgetGuard
from bench.run.environment import BACKEND_PACKAGES, accelerator_names, configure_runtime, keras_backend_in_use
from bench.run.execution import ExecutionSettings
from bench.run.objectives import SearchObjective, objectives_text, pareto_trials, parse_objectives
from bench.run.records import (
    DiskMeter,
    RunFolder,
    RunRecord,
    TrialRecord,
    best_trial,
    count_states,
    peak_resident_bytes,
    same_json,
)
from bench.run.storage_url import check_storage_url, redact, redact_argv, stored_storage

RUN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,99}")
MAX_SEED = 2**31 - 2  # every library's seed (Backend.library_seed may add 1) stays a valid 32-bit seed


@dataclass(frozen=True)
class RunConfig:
    """Everything that defines a run; stored in run.json and enough to resume it."""

    backend: str = DEFAULT_BACKEND
    algorithm: str | None = None
    pruner: str | None = None
    task: str = "cnn"  # a shipped task, an installed one, or module:attr
    dataset: str | None = None  # the cnn task's dataset (digits when not given)
    data_dir: str | None = None
    train_subset: int | None = None
    space: str | None = None  # None: the task's own space
    budget: Budget = field(default_factory=Budget)
    seed: int = 0
    device: str = "cpu"
    keras_backend: str = "tensorflow"
    steps_per_execution: int | None = None  # None: as the task compiles its model
    jit_compile: str = "auto"  # auto: as the task compiles its model
    patience: int | None = None
    objectives: str | None = None  # --objectives, e.g. "val_accuracy:max,params:min" (None: the task's objective alone)
    tensorboard: bool = False  # per-trial TensorBoard logs with HParams under the run folder
    workers: int = 1  # worker processes sharing the search and the budget (--workers N)
    devices: str | None = None  # --devices cpu | gpu:0,gpu:1,...: one worker per listed GPU, each pinned to it
    storage: str | None = None  # an RDB URL for the backend's search (PostgreSQL, ...; Backend.rdb_storage); None: its own files
    trials_per_worker: int | None = None  # a worker process is replaced after this many trials (flat memory)
    results_dir: str = "results"
    run_id: str | None = None

    def __post_init__(self) -> None:
        if self.run_id is not None and not RUN_ID.fullmatch(str(self.run_id)):
            raise UsageError(f"--run-id {excerpt(self.run_id)}: a run id is a plain folder name (letters, digits, '.', '_', '+', '-'; "
                             "at most 100, starting with a letter or digit), not a path; use --results-dir to choose where runs go")
        if not isinstance(self.seed, int) or isinstance(self.seed, bool) or not 0 <= self.seed <= MAX_SEED:
            raise UsageError(f"--seed must be an integer from 0 to {MAX_SEED}, but got {excerpt(self.seed)}")
        self.execution.check_keras_backend(self.keras_backend)
        if self.objectives is not None:
            object.__setattr__(self, "objectives", objectives_text(parse_objectives(self.objectives)))  # one spelling
        if not isinstance(self.workers, int) or isinstance(self.workers, bool) or self.workers < 1:
            raise UsageError(f"--workers must be a positive integer, but got {excerpt(self.workers)}")
        if self.trials_per_worker is not None and (not isinstance(self.trials_per_worker, int) or self.trials_per_worker < 1):
            raise UsageError(f"--trials-per-worker must be a positive integer, but got {excerpt(self.trials_per_worker)}")
        if self.devices is not None:
            devices = parse_devices(self.devices)
            gpus = [d for d in devices if d != "cpu"]
            if gpus and self.workers not in (1, len(gpus)):
                raise UsageError(f"--devices lists {len(gpus)} GPUs but --workers is {self.workers}: one worker runs per listed GPU; "
                                 "drop --workers, or list as many GPUs")
            object.__setattr__(self, "devices", ",".join(devices))
            if gpus:
                object.__setattr__(self, "workers", len(gpus))
                object.__setattr__(self, "device", gpus[0])
        if self.storage is not None:
            check_storage_url(self.storage)

    @property
    def device_list(self) -> list[str]:
        """The device of each worker, in order (the one --device for every worker without --devices)."""
        devices = parse_devices(self.devices) if self.devices else []
        gpus = [d for d in devices if d != "cpu"]
        return gpus if gpus else [self.device] * self.workers

    @property
    def distributed(self) -> bool:
        """Run as worker processes (several workers, a shared RDB study, or workers replaced after K trials)."""
        return self.workers > 1 or self.storage is not None or self.trials_per_worker is not None

    @property
    def search_objectives(self) -> tuple[SearchObjective, ...]:
        """--objectives parsed (empty: a single-objective run on the task's objective)."""
        return () if self.objectives is None else parse_objectives(self.objectives)

    @property
    def execution(self) -> ExecutionSettings:
        """How Keras runs each trial's training (validated on construction)."""
        return ExecutionSettings(self.steps_per_execution, self.jit_compile)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["budget"] = self.budget.to_dict()
        return data

    def stored_dict(self) -> dict[str, Any]:
        """As run.json keeps it: the storage URL's password hidden (a resume or a worker gets it again, never from a file)."""
        return {**self.to_dict(), "storage": stored_storage(self.storage)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunConfig:
        return cls(**{**data, "budget": Budget(**data["budget"])})


CONCURRENT_RUNS_VARIABLE = "TUNEBENCH_CONCURRENT_RUNS"  # set by `compare --jobs K` for each run it starts


def concurrent_runs() -> int:
    """How many runs share this machine with this one (recorded so reports can tell timings apart)."""
    text = os.environ.get(CONCURRENT_RUNS_VARIABLE, "1")
    return int(text) if text.isdigit() and int(text) > 0 else 1


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def new_run_id(config: RunConfig) -> str:
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    algo = config.algorithm + (f"+{config.pruner}" if config.pruner not in (None, "none") else "")
    return f"{stamp}-{config.backend}-{algo}-s{config.seed}-{secrets.token_hex(2)}"


def backends_that(has: Any) -> list[str]:
    """Names of the known backends (plugins included) for which `has(backend)` holds: for messages that say which do."""
    from backends.registry import all_backends

    return [b.name for b in all_backends() if has(b)]


def prepare(config: RunConfig) -> tuple[RunConfig, Any, Any]:
    """Check everything a user can get wrong before the task is loaded: backend, algorithm, and the space when it is known
    without loading the task (given, or a shipped task's own); returns the space, or None."""
    from bench.task.registry import default_space

    config, backend = checked_choices(config)
    objectives = len(config.search_objectives) or 1
    space_name = config.space or default_space(config.task)
    return config, backend, None if space_name is None else checked_space(space_name, backend, config.algorithm, objectives)


def checked_choices(config: RunConfig) -> tuple[RunConfig, Any]:
    """The backend, its algorithm and pruner, and the flags it cannot take, checked without importing Keras (so that such a
    mistake is refused in a fraction of a second); the config with the defaults filled in, and the backend."""
    from backends.registry import get_backend

    backend = get_backend(config.backend)
    missing = backend.missing_modules()
    if missing:
        raise UsageError(f"backend {backend.name} needs {', '.join(missing)}, which is not installed: {backend.install_hint or 'install it'}")
    algorithm = config.algorithm or backend.default_algorithm
    if algorithm not in backend.algorithms:
        raise UsageError(f"{backend.name} has no algorithm {excerpt(algorithm)}; choose one of: {', '.join(backend.algorithms)}")
    pruner = backend.pruner_aliases.get(config.pruner, config.pruner) if config.pruner is not None else None
    if pruner is not None and pruner != "none":
        if not backend.pruners:
            raise UsageError(f"{backend.name} has no pruners; --pruner is for: {', '.join(backends_that(lambda b: bool(b.pruners)))}")
        if pruner not in backend.pruners:
            raise UsageError(f"{backend.name} has no {backend.pruner_flag.lstrip('-')} {excerpt(pruner)}; choose one of: "
                             f"{', '.join([*backend.pruners, *backend.pruner_aliases])}")
    if pruner is None and backend.pruners:
        pruner = "none"
    objectives = len(config.search_objectives) or 1
    if objectives > 1 and pruner not in (None, "none"):
        raise UsageError(f"{backend.pruner_flag} {pruner} cannot prune a multi-objective search (a pruner judges one value); drop {backend.pruner_flag} "
                         "or --objectives")
    if config.tensorboard:
        from bench.run.tensorboard import require_tensorboard
        require_tensorboard()
    if config.trials_per_worker is not None and backend.trials_in_own_processes:
        raise UsageError(f"--trials-per-worker: {backend.name} runs every trial in a new process of its own already; drop the flag")
    if config.storage is not None and not backend.rdb_storage:
        raise UsageError(f"--storage is for {', '.join(backends_that(lambda b: b.rdb_storage))} (a search kept in a database); "
                         f"{backend.name} keeps its own files")
    from bench.task.registry import check_reference

    check_reference(config.task)  # a task name that names nothing (a module:attr is imported later, after Keras is set up)
    if config.space is not None:
        from search_space import SpaceError, resolve_space

        try:
            resolve_space(config.space)  # a space that is neither a file nor a shipped one, or a file that does not parse
        except SpaceError as exc:
            raise UsageError("; ".join(exc.problems)) from None
    return replace(config, algorithm=algorithm, pruner=pruner), backend


def checked_space(name: str, backend: Any, algorithm: str | None, objectives: int = 1) -> Any:
    """The space `name` (shipped or a file), refused in one line if the backend cannot search it exactly."""
    from search_space import SpaceError, resolve_space

    try:
        space = resolve_space(name)
    except SpaceError as exc:
        raise UsageError("; ".join(exc.problems)) from None
    problems = backend.check_space(space, algorithm, objectives)
    if problems:
        raise UsageError("; ".join(problems))
    return space


def load_task_and_space(config: RunConfig, backend: Any, space: Any) -> tuple[Any, Any]:
    """The task with its data (after Keras is configured: a user's task module may import it), and the space: the one
    `prepare` found, else the task's own. Refused in one line if the space tunes what the task's model does not read."""
    from bench.task.base import TaskOptions
    from bench.task.registry import load_task

    task = load_task(config.task, TaskOptions(config.dataset, config.data_dir, config.train_subset))
    if task.objective.direction not in backend.directions:
        can = " or ".join(f"{d}imise" for d in backend.directions)
        raise UsageError(f"backend {backend.name} can only {can} (its `directions`), but task {task.task.name} asks to "
                         f"{task.objective.direction}imise {task.objective.metric}")
    if space is None:
        if task.task.space is None:
            raise UsageError(f"task {task.task.name} names no search space of its own; pass --space FILE")
        space = checked_space(task.task.space, backend, config.algorithm, len(config.search_objectives) or 1)
    problems = task.task.check_space([p.name for p in space])
    if problems:
        raise UsageError("; ".join(problems))
    return task, space


@dataclass
class RunSetup:
    """A created (or reopened) run: its folder and record on disk, the task and space loaded, what earlier sessions did."""

    config: RunConfig
    backend: Any
    task: Any
    space: Any
    folder: RunFolder
    run: dict[str, Any]
    work_dir: Path
    done: list[dict[str, Any]]  # trials recorded before this session (a resume), killed ones included
    spent_seconds: float
    disk_peak: int
    started: float  # time.monotonic() when this session's clock began
    resumed: bool


def create_run(config: RunConfig, *, argv: list[str], verbose: bool = False, resume_from: Path | None = None) -> RunSetup:
    """Everything before the first trial: checks, the task and its data, the run folder and run.json, recovery of what a
    killed session left."""
    started = time.monotonic()  # the time budget counts from here: imports and data loading are part of the run
    from backends.registry import BUILTINS
    from bench.run.environment import git_commit, library_versions, machine_facts
    from search_space import space_to_dict

    if config.backend in BUILTINS:
        # A wrong algorithm or flag is refused before Keras is imported. Any other backend (a plugin, or a name that
        # names none) is checked after the runtime is set up: a plugin's module may import Keras, which must see the
        # Keras backend and devices first.
        checked_choices(config)
    configure_runtime(config.keras_backend, config.device, verbose=verbose)  # before anything (a backend's space check too) imports Keras
    config, backend, space = prepare(config)
    previous: dict[str, Any] = {} if resume_from is None else RunFolder(resume_from).read_run()
    if previous and space is not None:  # refused before any heavy import
        refuse_if_changed("space", previous.get("space"), space_to_dict(space), previous["run_id"])
    space_known = space is not None
    task, space = load_task_and_space(config, backend, space)

    if resume_from is None:
        run_id = config.run_id or new_run_id(config)
        folder = RunFolder((Path(config.results_dir) / run_id).absolute())
        if folder.path.exists():
            raise UsageError(f"{folder.path} already exists; choose another --run-id or use --resume {run_id}")
    else:
        folder = RunFolder(resume_from.absolute())
        run_id = previous["run_id"]
        if not space_known:  # the task's own space, known only now
            refuse_if_changed("space", previous.get("space"), space_to_dict(space), run_id)

    accelerators = accelerator_names(config.keras_backend)
    if any(d.startswith("gpu") for d in config.device_list) and not accelerators:
        raise UsageError(f"--device {config.device}: Keras backend {config.keras_backend} sees no GPU here; use --device cpu")
    if previous:
        refuse_if_changed("dataset", previous.get("task", {}).get("dataset"), task.describe()["dataset"], run_id)
        refuse_if_changed("task", task_identity(previous.get("task")), task_identity(task.describe()), run_id)
    work_dir = folder.path / backend.name.replace("-", "_")
    if resume_from is None:
        folder.create()
    else:  # what the killed session's library left running must stop before its records are read
        backend.before_resume(previous, folder.path)
    done, spent_seconds, killed, disk_peak = recover(folder, previous, task.objective.metric)
    record = RunRecord(
        run_id=run_id,
        folder=str(folder.path),
        status="running",
        pid=os.getpid(),
        host=socket.gethostname(),
        command_line=previous.get("command_line", [sys.executable, *redact_argv(argv)]),
        resumed_with=previous.get("resumed_with", []) + ([[sys.executable, *redact_argv(argv)]] if resume_from else []),
        killed_trials_recorded=previous.get("killed_trials_recorded", 0) + killed,
        config=config.stored_dict(),
        backend=backend.name,
        algorithm=config.algorithm,
        pruner=config.pruner,
        seed=config.seed,
        seeds={"run": config.seed, f"{backend.name} (library)": backend.library_seed(config.seed),
               "keras per trial": "(seed * 100003 + trial number) mod 2**32, set before each trial's build"},
        space=space_to_dict(space),
        task=task.describe(),
        objective=task.objective.to_dict(),
        objectives=[o.to_dict() for o in config.search_objectives] or None,
        search=search_text(backend, config),
        budget=config.budget.to_dict(),
        budget_spent={"trials": len(done), "epochs": sum(t["epochs_run"] for t in done), "seconds": round(spent_seconds, 3)},
        library_versions=library_versions(tuple(dict.fromkeys(("tensorflow", "keras", "numpy", "scikit-learn",
                                                               *BACKEND_PACKAGES[config.keras_backend], *backend.packages)))),
        keras_backend=keras_backend_in_use(config.keras_backend),
        device=config.device,
        workers=config.workers,
        storage=storage_record(backend, config),
        machine={**machine_facts(), "accelerators": accelerators},
        concurrent_runs=concurrent_runs(),
        git_commit=git_commit(),
        started_at=previous.get("started_at", _now()),
        ended_at=None,
        work_dir=str(work_dir),
        pareto_trials=list(previous.get("pareto_trials") or []),
    )
    run = record.to_dict(previous)
    folder.write_run(run)
    for path in folder.running_files():  # recorded by `recover`, and run.json now holds what they spent
        path.unlink(missing_ok=True)
    return RunSetup(config=config, backend=backend, task=task, space=space, folder=folder, run=run, work_dir=work_dir, done=done,
                    spent_seconds=spent_seconds, disk_peak=disk_peak, started=started, resumed=resume_from is not None)


def run_here(setup: RunSetup, *, quiet: bool) -> dict[str, Any]:
    """The run's one worker, in this process: the backend's native loop under the harness, until the budget is spent."""
    from backends.base import RunContext
    from bench.run.harness import Harness
    from bench.run.progress import ProgressView

    config, backend, task, folder, run, done = setup.config, setup.backend, setup.task, setup.folder, setup.run, setup.done
    objectives = config.search_objectives
    elsewhere = backend.trials_in_own_processes  # the library runs each trial in a process of its own, on the shared ledger
    if elsewhere:
        from bench.run.follow import start_ledger
        from bench.run.ledger import SharedGuard

        ledger = start_ledger(folder, done, setup.spent_seconds + time.monotonic() - setup.started, task.objective)
        guard: BudgetGuard = SharedGuard(config.budget, ledger, worker="driver")
    else:
        guard = BudgetGuard(config.budget, trials=len(done), epochs=sum(t["epochs_run"] for t in done), seconds=setup.spent_seconds,
                            started=setup.started)

    def persist(record: TrialRecord) -> None:
        """After every trial: what the run has spent is on disk, so a kill loses at most the running trial."""
        run.update(progress_record(guard, harness.disk, run))
        if harness.process_startup_seconds is not None:  # interpreter, imports, data, storage: what each command pays
            run["process_startup_seconds"] = harness.process_startup_seconds
        if harness.outside_build_seconds:  # a backend's build to learn the space (Keras's warm-up): the task's cost
            run["task_build_seconds_outside_trials"] = round(harness.outside_build_seconds, 4)
        if objectives and record.state == "complete":  # only a complete trial can change the front
            run["pareto_trials"] = pareto_trials(sorted(harness.recorded.values(), key=lambda t: t["number"]), objectives)
        folder.write_run(run)

    view = ProgressView(guard, task.objective, quiet=quiet, title=f"{backend.name}/{config.algorithm}" + (f" x{config.workers}" if config.workers > 1 else ""))
    listeners = [persist, view.on_trial]
    if config.tensorboard and not elsewhere:  # (trial processes write their own)
        from bench.run.tensorboard import TensorBoardWriter
        listeners.append(TensorBoardWriter(folder.path / TENSORBOARD_DIR, run, objectives, recorded=done).on_trial)
    harness = Harness(task=task, guard=guard, folder=folder, work_dir=setup.work_dir, seed=config.seed, recorded=done,
                      disk_peak=setup.disk_peak, listeners=listeners, patience=config.patience, execution=config.execution,
                      objectives=objectives)
    ctx = RunContext(space=setup.space, harness=harness, guard=guard, algorithm=config.algorithm, pruner=config.pruner,
                     seed=backend.library_seed(config.seed), work_dir=setup.work_dir, resume=setup.resumed, study_name=run["run_id"],
                     run_dir=folder.path, objective=task.objective, objectives=objectives, workers=config.workers,
                     devices=tuple(config.device_list))
    follower = contextlib.nullcontext()
    if elsewhere:
        from bench.run.follow import TrialFollower

        def on_record(record: TrialRecord) -> None:  # a trial another process recorded: as if this harness had
            harness.recorded[record.backend_trial_id] = json.loads(record.to_json())
            harness.disk.sample()
            for listener in harness.listeners:
                listener(record)

        follower = TrialFollower(folder, guard, task.objective.metric, on_record)
    status, error = "complete", None
    try:
        with view, graceful_interrupt(guard, quiet=quiet), follower:
            backend.run(ctx)
        if harness.task_error is not None:
            status, error = "crashed", str(harness.task_error)
        elif guard.interrupted:
            status = "interrupted"
    except KeyboardInterrupt:
        status = "interrupted"
    except Exception as exc:
        status, error = "crashed", f"{type(exc).__name__}: {exc}"
        raise
    finally:
        trials, _ = folder.read_trials()
        run.update(finish_record(trials, guard, harness.disk, run, status, error, task.objective))
        if elsewhere:
            run.update(trial_processes_record(trials, guard, run, setup.spent_seconds))
        if objectives:
            run["pareto_trials"] = pareto_trials(trials, objectives)
        folder.write_run(run)
    if harness.task_error is not None:
        raise harness.task_error
    return run


def trial_processes_record(trials: list[dict[str, Any]], guard: Any, run: dict[str, Any], spent_before: float) -> dict[str, Any]:
    """run.json's figures for a run whose trials ran in processes of the library's own: memory is each trial process's (the
    driver's beside it), and start-up is from this command's start to the first trial process's start."""
    from bench.run.follow import session_startup_seconds

    startup = session_startup_seconds(guard.ledger, trials, spent_before)
    return {
        "driver_memory_peak_bytes": peak_resident_bytes(),
        "memory_peak_bytes": max([int(t.get("memory_rss_bytes") or 0) for t in trials] + [0]),
        **({"process_startup_seconds": startup} if startup is not None else {}),
    }


def parse_devices(text: str) -> list[str]:
    """`cpu` or `gpu:0,gpu:1,...` as a list; anything else in one line."""
    items = [item.strip() for item in str(text).split(",") if item.strip()]
    ok = items == ["cpu"] or (items and all(i.startswith("gpu:") and i[4:].isdigit() for i in items) and len(set(items)) == len(items))
    if not ok:
        raise UsageError(f"--devices {excerpt(text)}: give cpu, or distinct GPUs as gpu:0,gpu:1,...")
    return items


def storage_record(backend: Any, config: RunConfig) -> str:
    """Where the backend keeps its search, as run.json says it (a password never)."""
    return backend.describe_storage(None if config.storage is None else redact(config.storage))


TENSORBOARD_DIR = "tensorboard"  # in the run folder: `tensorboard --logdir` on it, or on a folder of runs


def search_text(backend: Any, config: RunConfig) -> str:
    """run.json's account of how the backend's algorithm searched the run's objectives."""
    if not config.search_objectives:
        return "single objective (the task's)"
    can = backend.capabilities_of(config.algorithm)
    return can.multi_how or can.multi


def task_identity(record: Any) -> Any:
    """What makes two runs' tasks the same task (not its free-text description, nor how it was named on the command line);
    a record written before tasks were pluggable (`{"model": "cnn", ...}`) is the cnn task's."""
    from bench.task.cnn_model import DEFAULTS

    if not isinstance(record, dict):
        return record
    if "name" not in record and record.get("model") == "cnn":
        return {"name": "cnn", "version": "1", "objective": {"metric": "val_accuracy", "direction": "max"},
                "params": list(DEFAULTS), "dataset": record.get("dataset")}
    return {key: record.get(key) for key in ("name", "version", "objective", "params", "dataset")}


def refuse_if_changed(name: str, stored: Any, now: Any, run_id: str) -> None:
    """A resume must continue the run it began as: same space, dataset, task (and budget, checked from the flags)."""
    if not same_json(stored, now):
        raise UsageError(f"--resume {run_id}: the {name} differs from the one the run began with; "
                         f"restore it, or start a new run (field '{name}')")


def recover(folder: RunFolder, previous: dict[str, Any], metric: str) -> tuple[list[dict[str, Any]], float, int, int]:
    """Finished trials, seconds spent, killed trials recorded now, and disk peak, for a run a kill may have cut short.

    A trial the kill left running (running_trial.json) is recorded as failed with what it spent. The file itself is
    removed only once run.json holds the new figures (`execute`), so a resume that dies early loses nothing either.
    """
    from bench.run.harness import killed_trial_record

    done, _ = folder.read_trials()
    seconds = max([float(previous.get("budget_spent", {}).get("seconds", 0.0))] + [float(t["finished_at_seconds"]) for t in done])
    disk_peak = int(previous.get("disk_bytes_peak") or 0)
    killed = 0
    recorded_ids = {str(t["backend_trial_id"]) for t in done}
    next_number = max((int(t["number"]) for t in done), default=-1) + 1
    for path in folder.running_files():
        try:
            running = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            continue
        seconds = max(seconds, float(running.get("seconds", 0.0)))
        disk_peak = max(disk_peak, int(running.get("disk_peak_bytes") or 0))
        if str(running.get("backend_trial_id")) in recorded_ids:  # recorded just before the kill
            continue
        taken = {int(t["number"]) for t in done}
        number = int(running["number"]) if isinstance(running.get("number"), int) and running["number"] not in taken else next_number
        record = killed_trial_record(running, number=number, metric=metric)
        next_number = max(next_number, number + 1)
        folder.append_trial(record)
        done.append(json.loads(record.to_json()))
        recorded_ids.add(record.backend_trial_id)
        killed += 1
    return done, seconds, killed, disk_peak


def progress_record(guard: BudgetGuard, disk: DiskMeter, run: dict[str, Any]) -> dict[str, Any]:
    """The run.json fields that change with every trial."""
    return {
        "budget_spent": guard.spent(),
        "disk_bytes_peak": disk.peak,
        "memory_peak_bytes": max(int(run.get("memory_peak_bytes") or 0), peak_resident_bytes()),
    }


@contextlib.contextmanager
def graceful_interrupt(guard: BudgetGuard, *, quiet: bool) -> Iterator[None]:
    """First Ctrl-C: stop at the next batch and start no new trial. Second Ctrl-C: stop at once."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: Any) -> None:
        guard.interrupt()
        signal.signal(signal.SIGINT, signal.default_int_handler)
        if not quiet:
            print("\nstopping: the running trial is cut short and recorded as failed (Ctrl-C again to stop at once)", file=sys.stderr)

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def finish_record(trials: list[dict[str, Any]], guard: BudgetGuard, disk: DiskMeter, run: dict[str, Any], status: str,
                  error: str | None, objective: Any) -> dict[str, Any]:
    best = best_trial(trials, objective)
    final = disk.sample()  # after the backend's last writes
    return {
        **progress_record(guard, disk, run),
        "status": status,
        "error": error,
        "ended_at": _now(),
        "stop_reason": (guard.exhausted() or "search ended (the algorithm had nothing left to try)") if status == "complete" else status,
        "trials_by_state": count_states(trials),
        "best_trial": None if best is None else {k: best.get(k) for k in ("number", "params", "objective", "test_objective", "best_epoch",
                                                                         objective.metric, objective.test_metric)},
        "disk_bytes_final": final.allocated,
        "disk_apparent_bytes_final": final.apparent,
    }
