"""Start or resume a run: its set-up (bench.run.runner), then its one worker in this process or its worker processes
(bench.run.coordinator)."""

from __future__ import annotations

import socket
from dataclasses import replace
from pathlib import Path
from typing import Any

from bench.errors import UsageError, excerpt
from bench.run.records import RunFolder
from bench.run.environment import process_alive
from bench.run.runner import RunConfig, create_run, run_here
from bench.run.storage_url import full_storage_url


def execute(config: RunConfig, *, argv: list[str], quiet: bool = False, verbose: bool = False,
            resume_from: Path | None = None) -> dict[str, Any]:
    """Run (or resume) one tuning run; return the final run record. One worker runs in this process; several
    (--workers N, --devices) run as worker processes that this one starts and watches (bench.run.coordinator)."""
    setup = create_run(config, argv=argv, verbose=verbose, resume_from=resume_from)
    if setup.config.distributed and not setup.backend.trials_in_own_processes:  # (such a library runs --workers itself)
        from bench.run.coordinator import coordinate

        return coordinate(setup, quiet=quiet, verbose=verbose)
    return run_here(setup, quiet=quiet)


def resume(run_dir: Path, *, argv: list[str], quiet: bool, verbose: bool = False, given: dict[str, Any] | None = None) -> dict[str, Any]:
    """Continue an interrupted or killed run to its budget, with the config it was started with.

    `given`: the config fields the user typed beside --resume (budget fields by their Budget names); any that differs
    from the stored run is refused, since a resumed run must spend the budget it began with.
    """
    folder = RunFolder(run_dir)
    run = folder.read_run()
    if run.get("status") == "complete":
        raise UsageError(f"run {run['run_id']} is already complete; nothing to resume")
    if run.get("status") == "running" and run.get("host") == socket.gethostname() and process_alive(run.get("pid")):
        raise UsageError(f"run {run['run_id']} is still running (process {run['pid']}); stop it first")
    alive = [w["pid"] for w in run.get("worker_processes") or () if run.get("host") == socket.gethostname() and process_alive(w.get("pid"))]
    if alive:
        raise UsageError(f"run {run['run_id']} still has worker processes running ({', '.join(map(str, alive))}); "
                         "they stop within a second of their coordinator's end: try again, or stop them")
    config = RunConfig.from_dict(run["config"])
    given = dict(given or {})
    config = replace(config, storage=full_storage_url(config.storage, given.pop("storage", None)))
    stored = {**config.to_dict(), **config.budget.to_dict()}
    for key, value in given.items():
        if key in stored and stored[key] != value:
            flag = "--" + key.replace("_", "-")
            field = "budget" if key in config.budget.to_dict() else key
            raise UsageError(f"--resume {run['run_id']}: {flag} {excerpt(value)} differs from the run's {excerpt(stored[key])} "
                             f"(field '{field}'); a resumed run keeps what it began with: drop the flag, or start a new run")
    return execute(config, argv=argv, quiet=quiet, verbose=verbose, resume_from=run_dir)
