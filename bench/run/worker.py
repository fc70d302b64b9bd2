"""One worker process of a multi-worker run: `python -m bench.run.worker RUN_FOLDER --worker NAME [--index K] [--server]`.

It reads the run's config from run.json, loads the task, and runs the backend's native loop on the shared search
(the backend's storage or server) under the run's shared budget (the ledger), appending its trials to the run's
trials.jsonl. `python -m bench join RUN_FOLDER` starts such workers on another machine that mounts the run folder.
Exit status: 0 when the budget (or --trials-per-worker) ended it, 2 for a usage or task error (one line on stderr),
130 when interrupted.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

SEARCH_ENDED = "search ended"  # the ledger's stop reason when a worker's backend had nothing left to try


def worker_context(run_dir: Path, *, name: str, index: int, role: str = "worker", configure: bool = True) -> tuple[Any, Any]:
    """What one process of a run needs to run the backend's loop (or, for a library that runs each trial in a process of
    its own, one trial): the run's config from run.json, the task loaded, the harness on the run's shared ledger,
    recording to the run's trials.jsonl under the name `name`. Returns the RunContext and the backend.
    `configure`: set up Keras's backend and device first (False where the process already did)."""
    from backends.base import Distribution, RunContext
    from bench.run.environment import configure_runtime
    from bench.run.harness import Harness
    from bench.run.ledger import Ledger, SharedGuard
    from bench.run.records import RunFolder
    from bench.run.runner import TENSORBOARD_DIR, RunConfig, load_task_and_space, prepare
    from bench.run.storage_url import full_storage_url

    run = RunFolder(run_dir).read_run()
    config = RunConfig.from_dict(run["config"])
    config = replace(config, storage=full_storage_url(config.storage))  # its password from the environment, never a file
    device = config.device_list[index % len(config.device_list)]
    if configure:
        configure_runtime(config.keras_backend, device, verbose=False)
    config, backend, space = prepare(config)
    task, space = load_task_and_space(config, backend, space)
    guard = SharedGuard(config.budget, Ledger(run_dir), worker=name)
    folder = RunFolder(run_dir, worker=name)
    recorded, _ = folder.read_trials()
    objectives = config.search_objectives
    listeners: list[Any] = []
    if config.tensorboard:
        from bench.run.tensorboard import TensorBoardWriter
        listeners.append(TensorBoardWriter(run_dir / TENSORBOARD_DIR, run, objectives).on_trial)
    work_dir = Path(run["work_dir"])
    harness = Harness(task=task, guard=guard, folder=folder, work_dir=work_dir, seed=config.seed, recorded=recorded,
                      listeners=listeners, patience=config.patience, execution=config.execution, objectives=objectives, worker=name)
    distribution = Distribution(worker=name, index=index, role=role, storage=config.storage, trials_per_worker=config.trials_per_worker)
    ctx = RunContext(space=space, harness=harness, guard=guard, algorithm=config.algorithm, pruner=config.pruner,
                     seed=backend.library_seed(config.seed), work_dir=work_dir, resume=bool(run.get("resumed_with")) and role == "server",
                     study_name=run["run_id"], run_dir=run_dir, objective=task.objective, objectives=objectives, distribution=distribution)
    return ctx, backend


def run_worker(run_dir: Path, *, name: str, index: int, role: str = "worker") -> int:
    """Run this process's part of the run; returns its exit status."""
    from bench.run.runner import graceful_interrupt

    ctx, backend = worker_context(run_dir, name=name, index=index, role=role)
    harness, guard, per_worker = ctx.harness, ctx.guard, ctx.distribution.trials_per_worker
    watch_parent(guard)
    try:
        with graceful_interrupt(guard, quiet=True):
            backend.run(ctx)
    except KeyboardInterrupt:
        return 130
    finally:
        guard.release_claim()  # a claim the backend never turned into a trial (it had nothing left, or was stopped)
    if harness.task_error is not None:
        print(f"error: {harness.task_error}", file=sys.stderr)
        return 2
    if guard.interrupted:
        return 130
    # Neither the budget (no claim was refused) nor --trials-per-worker ended it: the backend had nothing left to try.
    if role == "worker" and not guard.claim_refused and guard.exhausted() is None and (
            per_worker is None or harness.trials_started < per_worker):
        guard.ledger.stop(SEARCH_ENDED)
    return 0


def watch_parent(guard: Any, every_seconds: float = 1.0) -> None:
    """If the process that started this worker dies (a coordinator killed outright), stop as after Ctrl-C: the running
    trial is cut short and recorded failed, and no new trial is claimed; a `--resume` then starts afresh."""
    import os
    import threading
    import time

    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(every_seconds)
        guard.interrupt()

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def main(argv: list[str] | None = None) -> int:
    import os

    from bench.errors import UsageError, one_line
    from bench.run.storage_url import STORAGE_URL_VARIABLE, scrub

    parser = argparse.ArgumentParser(prog="python -m bench.run.worker", description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--worker", required=True, help="this worker's name in the records")
    parser.add_argument("--index", type=int, default=0, help="distinct per worker: its device (of --devices) and sampler seed")
    parser.add_argument("--server", action="store_true", help="the backend's own server process (runs no trial)")
    args = parser.parse_args(argv)
    try:
        return run_worker(args.run_dir.absolute(), name=args.worker, index=args.index, role="server" if args.server else "worker")
    except UsageError as exc:
        print(f"error: {scrub(one_line(str(exc)), os.environ.get(STORAGE_URL_VARIABLE))}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
