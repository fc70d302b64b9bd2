"""`bench run`: one backend, one algorithm, one seed, under one budget; everything recorded."""

from __future__ import annotations

import contextlib
import datetime as dt
import importlib.util
import logging
import os
import secrets
import signal
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from bench.budget import Budget, BudgetGuard
from bench.errors import UsageError
from bench.records import RunFolder, best_trial, count_states, folder_bytes

KERAS_BACKENDS = ("tensorflow", "jax", "torch")


@dataclass(frozen=True)
class RunConfig:
    """Everything that defines a run; stored in run.json and enough to resume it."""

    backend: str = "optuna"
    algorithm: str | None = None
    pruner: str | None = None
    dataset: str = "digits"
    data_dir: str | None = None
    train_subset: int | None = None
    space: str = "small_cnn"
    budget: Budget = field(default_factory=Budget)
    seed: int = 0
    device: str = "cpu"
    keras_backend: str = "tensorflow"
    patience: int | None = None
    results_dir: str = "results"
    run_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["budget"] = self.budget.to_dict()
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunConfig:
        return cls(**{**data, "budget": Budget(**data["budget"])})


CONCURRENT_RUNS_VARIABLE = "TUNEBENCH_CONCURRENT_RUNS"  # set by `compare --jobs K` for each run it starts


def concurrent_runs() -> int:
    """How many runs share this machine with this one (recorded so reports can tell timings apart)."""
    text = os.environ.get(CONCURRENT_RUNS_VARIABLE, "1")
    return int(text) if text.isdigit() and int(text) > 0 else 1


def configure_runtime(keras_backend: str, device: str) -> None:
    """Set the Keras backend and visible devices; must happen before Keras is imported."""
    if keras_backend not in KERAS_BACKENDS:
        raise UsageError(f"--keras-backend must be one of {', '.join(KERAS_BACKENDS)}, but got '{keras_backend}'")
    if importlib.util.find_spec(keras_backend) is None:
        raise UsageError(f"--keras-backend {keras_backend}: the package '{keras_backend}' is not installed; pip install {keras_backend}")
    if "keras" in sys.modules and os.environ.get("KERAS_BACKEND", "tensorflow") != keras_backend:
        raise UsageError(f"Keras is already loaded with backend {os.environ.get('KERAS_BACKEND', 'tensorflow')}; start a new process")
    os.environ["KERAS_BACKEND"] = keras_backend
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    logging.getLogger("tensorflow").setLevel(logging.ERROR)  # retracing notices are not the user's business
    if device == "cpu":
        os.environ["CUDA_VISIBLE_DEVICES"] = "-1"
        os.environ["JAX_PLATFORMS"] = "cpu"
    elif device.startswith("gpu:") and device[4:].isdigit():
        os.environ["CUDA_VISIBLE_DEVICES"] = device[4:]
    else:
        raise UsageError(f"--device must be 'cpu' or 'gpu:N' (N a GPU index), but got '{device}'")


def accelerator_names(keras_backend: str) -> list[str]:
    """The accelerators the Keras backend actually sees (empty on CPU)."""
    if keras_backend == "tensorflow":
        import tensorflow as tf

        return [d.name for d in tf.config.list_physical_devices("GPU")]
    if keras_backend == "jax":
        import jax

        return [str(d) for d in jax.devices() if d.platform != "cpu"]
    import torch

    return [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def new_run_id(config: RunConfig) -> str:
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    algo = config.algorithm + (f"+{config.pruner}" if config.pruner not in (None, "none") else "")
    return f"{stamp}-{config.backend}-{algo}-s{config.seed}-{secrets.token_hex(2)}"


def prepare(config: RunConfig) -> tuple[RunConfig, Any, Any]:
    """Check everything a user can get wrong before any heavy import: backend, algorithm, space."""
    from backends.registry import get_backend
    from search_space import SpaceError, resolve_space

    backend = get_backend(config.backend)
    algorithm = config.algorithm or backend.default_algorithm
    if algorithm not in backend.algorithms:
        raise UsageError(f"{backend.name} has no algorithm '{algorithm}'; choose one of: {', '.join(backend.algorithms)}")
    pruner = config.pruner
    if pruner is not None and pruner != "none":
        if not backend.pruners:
            raise UsageError(f"{backend.name} has no pruners; --pruner is for: optuna")
        if pruner not in backend.pruners:
            raise UsageError(f"{backend.name} has no pruner '{pruner}'; choose one of: {', '.join(backend.pruners)}")
    if pruner is None and backend.pruners:
        pruner = "none"
    try:
        space = resolve_space(config.space)
    except SpaceError as exc:
        raise UsageError("; ".join(exc.problems)) from None
    problems = backend.check_space(space, algorithm)
    if problems:
        raise UsageError("; ".join(problems))
    return replace(config, algorithm=algorithm, pruner=pruner), backend, space


def execute(config: RunConfig, *, argv: list[str], quiet: bool = False, resume_from: Path | None = None) -> dict[str, Any]:
    """Run (or resume) one tuning run; return the final run record."""
    started = time.monotonic()  # the time budget counts from here: imports and data loading are part of the run
    from backends.base import RunContext
    from bench.environment import git_commit, library_versions, machine_facts
    from search_space import space_to_dict

    config, backend, space = prepare(config)
    configure_runtime(config.keras_backend, config.device)

    if resume_from is None:
        run_id = config.run_id or new_run_id(config)
        folder = RunFolder(Path(config.results_dir) / run_id)
        if folder.path.exists():
            raise UsageError(f"{folder.path} already exists; choose another --run-id or use --resume {run_id}")
        guard = BudgetGuard(config.budget, started=started)
        previous: dict[str, Any] = {}
        done: list[dict[str, Any]] = []
    else:
        folder = RunFolder(resume_from)
        previous = folder.read_run()
        run_id = previous["run_id"]
        done, _ = folder.read_trials()
        guard = BudgetGuard(
            config.budget, trials=len(done), epochs=sum(t["epochs_run"] for t in done),
            seconds=float(previous.get("budget_spent", {}).get("seconds", 0.0)), started=started,
        )

    from bench.datasets import load_dataset
    from bench.harness import Harness
    from bench.progress import ProgressView
    from bench.task import CnnTask

    data = load_dataset(config.dataset, data_dir=config.data_dir, train_subset=config.train_subset)
    accelerators = accelerator_names(config.keras_backend)
    if config.device.startswith("gpu") and not accelerators:
        raise UsageError(f"--device {config.device}: Keras backend {config.keras_backend} sees no GPU here; use --device cpu")
    task = CnnTask(data, patience=config.patience)
    work_dir = folder.path / backend.name.replace("-", "_")
    if resume_from is None:
        folder.create()

    run: dict[str, Any] = {
        **previous,
        "run_id": run_id,
        "folder": str(folder.path),
        "status": "running",
        "command_line": previous.get("command_line", [sys.executable, *argv]),
        "resumed_with": previous.get("resumed_with", []) + ([[sys.executable, *argv]] if resume_from else []),
        "config": config.to_dict(),
        "backend": backend.name,
        "algorithm": config.algorithm,
        "pruner": config.pruner,
        "seed": config.seed,
        "space": space_to_dict(space),
        "task": task.describe(),
        "budget": config.budget.to_dict(),
        "budget_spent": guard.spent(),
        "library_versions": library_versions(tuple(dict.fromkeys(("tensorflow", "keras", "numpy", "scikit-learn", config.keras_backend, *backend.packages)))),
        "keras_backend": config.keras_backend,
        "device": config.device,
        "machine": {**machine_facts(), "accelerators": accelerators},
        "concurrent_runs": concurrent_runs(),
        "git_commit": git_commit(),
        "started_at": previous.get("started_at", _now()),
        "ended_at": None,
        "work_dir": str(work_dir),
    }
    folder.write_run(run)

    view = ProgressView(guard, quiet=quiet, title=f"{backend.name}/{config.algorithm}")
    harness = Harness(task=task, guard=guard, folder=folder, work_dir=work_dir, seed=config.seed,
                      first_number=len(done), listeners=[view.on_trial])
    ctx = RunContext(space=space, harness=harness, guard=guard, algorithm=config.algorithm, pruner=config.pruner,
                     seed=config.seed, work_dir=work_dir, resume=resume_from is not None, study_name=run_id)
    status, error = "complete", None
    try:
        with view, graceful_interrupt(guard, quiet=quiet):
            backend.run(ctx)
        if guard.interrupted:
            status = "interrupted"
    except KeyboardInterrupt:
        status = "interrupted"
    except Exception as exc:
        status, error = "crashed", f"{type(exc).__name__}: {exc}"
        raise
    finally:
        trials, _ = folder.read_trials()
        run.update(finish_record(trials, guard, harness.peak_disk_bytes, work_dir, status, error))
        folder.write_run(run)
    return run


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
            print("\nstopping: the running trial is cut short and not recorded (Ctrl-C again to stop at once)", file=sys.stderr)

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def finish_record(trials: list[dict[str, Any]], guard: BudgetGuard, peak: int, work_dir: Path, status: str, error: str | None) -> dict[str, Any]:
    best = best_trial(trials)
    final = folder_bytes(work_dir)
    return {
        "status": status,
        "error": error,
        "ended_at": _now(),
        "budget_spent": guard.spent(),
        "stop_reason": guard.exhausted() if status == "complete" else status,
        "trials_by_state": count_states(trials),
        "best_trial": None if best is None else {k: best[k] for k in ("number", "params", "val_accuracy", "test_accuracy", "best_epoch")},
        "disk_bytes_final": final,
        "disk_bytes_peak": max(peak, final),
    }


def resume(run_dir: Path, *, argv: list[str], quiet: bool) -> dict[str, Any]:
    """Continue an interrupted run to its budget, with the config it was started with."""
    folder = RunFolder(run_dir)
    run = folder.read_run()
    if run.get("status") == "complete":
        raise UsageError(f"run {run['run_id']} is already complete; nothing to resume")
    config = RunConfig.from_dict(run["config"])
    return execute(config, argv=argv, quiet=quiet, resume_from=run_dir)
