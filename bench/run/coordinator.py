"""A multi-worker run (`--workers N`, `--devices`, `--storage`, `--trials-per-worker`): start the worker processes,
watch them, replace those that end while budget is left, record what a killed one was running, and write the final
record.

The workers share the run's ledger (one budget, one trial numbering), its trials.jsonl and the backend's own search,
which the backend's WorkerGroup sets up, watches, settles and closes (backends/base.py): the coordinator names no backend.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench.errors import UsageError
from bench.run.follow import POLL_SECONDS, TrialsTail, lost_running_files, record_lost_trial, session_startup_seconds, start_ledger
from bench.run.ledger import Ledger, SharedGuard
from bench.run.records import RunFolder
from bench.run.runner import RunSetup, _now, finish_record
from bench.run.storage_url import STORAGE_URL_VARIABLE, full_storage_url, scrub
from bench.run.worker import SEARCH_ENDED

WORKER_LOGS = "workers"  # in the run folder: each worker's stdout and stderr


@dataclasses.dataclass
class WorkerProcess:
    name: str
    index: int
    device: str
    process: subprocess.Popen
    started_at: float
    log: Path
    ended_at: float | None = None

    def describe(self) -> dict[str, Any]:
        code = self.process.poll()
        return {"name": self.name, "pid": self.process.pid, "device": self.device, "started_at_seconds": round(self.started_at, 3),
                "ended_at_seconds": None if self.ended_at is None else round(self.ended_at, 3),
                "exit": None if code is None else (f"signal {-code}" if code < 0 else code)}


class Coordinator:
    def __init__(self, setup: RunSetup, *, quiet: bool, verbose: bool) -> None:
        self.setup, self.quiet, self.verbose = setup, quiet, verbose
        self.config, self.folder, self.run = setup.config, setup.folder, setup.run
        done = setup.done
        # The run's clock counts from this process's set-up (imports, data, run folder), as a one-process run's does.
        self.ledger = start_ledger(self.folder, done, setup.spent_seconds + time.monotonic() - setup.started, setup.task.objective)
        self.guard = SharedGuard(self.config.budget, self.ledger)
        self.workers: list[WorkerProcess] = []
        self.ended: list[WorkerProcess] = []
        self.group: Any = None  # the backend's WorkerGroup, made by `prepare_backend`
        self.killed: list[dict[str, Any]] = []  # running-trial files of killed workers, recorded as failed
        self.next_index = 100 * len(self.run.get("resumed_with") or [])  # a resumed session's workers: new names and seeds
        self.env = dict(os.environ)
        if self.config.storage:  # the full URL reaches the workers through their environment, never through run.json
            self.env[STORAGE_URL_VARIABLE] = self.config.storage
        self.trials_seen = 0
        self.tail = TrialsTail(self.folder)
        self.error: str | None = None
        self.interrupts = 0
        self.failed_starts = 0
        self.signalled: set[str] = set()
        self.backend_ended = False  # the backend's own processes ended its search, or died
        self.view: Any = None  # the progress display, set by `coordinate`

    # -- processes

    def start_server(self, name: str, more_env: dict[str, str]) -> subprocess.Popen:
        """A process of the backend's own (WorkerGroup.start): `bench.run.worker RUN --server`, logged like a worker."""
        log = self._log_path(name)
        return subprocess.Popen([sys.executable, "-m", "bench.run.worker", str(self.folder.path), "--worker", name, "--server"],
                                env={**self.env, **more_env}, stdout=log.open("ab"), stderr=subprocess.STDOUT, start_new_session=True)

    def start_worker(self) -> WorkerProcess:
        index = self.next_index
        self.next_index += 1
        name = f"w{index}"
        devices = self.config.device_list
        worker = spawn_worker(self.folder.path, self.setup.backend.worker_env(self.run, name), name, index, devices[index % len(devices)],
                              self._log_path(name), self.env)
        worker.started_at = self.guard.seconds
        self.workers.append(worker)
        self.run["worker_processes"] = [w.describe() for w in self.ended + self.workers]  # pids on disk: a user can find them
        self.folder.write_run(self.run)
        return worker

    def _log_path(self, name: str) -> Path:
        path = self.folder.path / WORKER_LOGS / f"{name}.log"
        path.parent.mkdir(exist_ok=True)
        return path

    def _tail(self, log: Path) -> str:
        lines = [line for line in log.read_text(errors="replace").splitlines() if line.strip()]
        errors = [line for line in lines if line.startswith("error:")]
        return scrub((errors or lines or ["(no output)"])[-1], self.config.storage)[:300]

    # -- the run

    def prepare_backend(self) -> None:
        """The backend's side of the run (a study created once so that the workers only load it, a server started)."""
        from backends.base import WorkerServices

        services = WorkerServices(run=self.run, env=self.env, start_server=self.start_server, log_path=self._log_path,
                                  last_line=lambda name: self._tail(self._log_path(name)),
                                  write_run=lambda: self.folder.write_run(self.run))
        self.group = self.setup.backend.worker_group(self.setup, services)
        self.group.start()

    def loop(self) -> str:
        """Keep the workers going until the budget is spent, the search ends, or the user stops it; the run's status."""
        for _ in range(self.config.workers):
            if not self.search_over():
                self.start_worker()
        while self.workers:
            time.sleep(POLL_SECONDS)
            self.read_new_trials()
            self.watch_backend()
            self.reap_lost_trials(stale_seconds=None)  # during the run: only this machine's dead processes (a pid is sure)
            for worker in list(self.workers):
                code = worker.process.poll()
                if code is None:
                    continue
                worker.ended_at = self.guard.seconds
                self.workers.remove(worker)
                self.ended.append(worker)
                if code == 2:
                    self.error = self.error or self._tail(worker.log)
                    self.stop_workers("crashed")
                started = self.record_killed(worker.name) if code not in (0, 2, 130) else False
                self.ledger.forget_worker(worker.name, started=started)  # a claim it held but never started goes back
                if code not in (0, 2, 130) and not self.search_over():  # killed (SIGKILL, OOM) or crashed
                    if code > 0 and not any(t.get("worker") == worker.name for t in self.folder.read_trials()[0]):
                        self.failed_starts += 1  # a worker that crashes before any trial would crash again: stop after 3
                        if self.failed_starts >= 3:
                            self.error = f"workers keep crashing before their first trial (exit {code}): {self._tail(worker.log)}"
                            self.stop_workers("crashed")
                if self.should_replace(worker, code):
                    self.start_worker()
        self.wait_for_joined_workers()
        self.read_new_trials()
        if self.error:
            return "crashed"
        return "interrupted" if self.guard.interrupted or self.ledger.read().get("stopped") == "interrupted" else "complete"

    def search_over(self) -> bool:
        """The backend has nothing left to try: a worker said so in the ledger, or the backend's own processes did."""
        return self.ledger.read().get("stopped") == SEARCH_ENDED

    def watch_backend(self) -> None:
        """The backend's own processes (a server) may end its search (the workers, which would wait for them, are
        stopped) or die (the run ends as crashed, with their last line)."""
        from backends.base import ServerFailed

        if self.group is None or self.backend_ended:
            return
        try:
            ended = self.group.search_ended()
        except ServerFailed as exc:
            self.backend_ended = True
            self.error = self.error or str(exc)
            self.ledger.stop("crashed")
        else:
            if not ended:
                return
            self.backend_ended = True
            self.ledger.stop(SEARCH_ENDED)
        for worker in self.workers:  # none runs a trial (the server waited for them); they would block on it
            if worker.process.poll() is None:
                worker.process.terminate()

    def lost_trials(self, stale_seconds: float | None) -> list[Path]:
        """Running-trial files of joined workers whose process is gone (this process's own workers' end is seen by `loop`);
        one from another machine is judged lost after `stale_seconds` without a checkpoint (None: never, as during the
        run, when a long first epoch elsewhere must not be taken for a kill)."""
        return lost_running_files(self.folder, skip={w.name for w in self.workers}, stale_seconds=stale_seconds)

    def reap_lost_trials(self, stale_seconds: float | None = 120.0) -> None:
        """Trials of joined workers (`bench join`) that were killed: recorded failed, their claims dropped."""
        for path in self.lost_trials(stale_seconds):
            name = path.stem
            self.ledger.forget_worker(name, started=self.record_killed(name))

    def wait_for_joined_workers(self, stale_seconds: float = 120.0) -> None:
        """Workers that joined from elsewhere (`bench join`) may still run claimed trials: wait while their running-trial
        files show a live process (rewritten at every epoch end); a lost one is recorded as killed."""
        running_dir = self.folder.path / "running"
        while not self.error and not self.guard.interrupted and running_dir.exists():  # Ctrl-C ends the wait too
            self.reap_lost_trials(stale_seconds)
            if not any(running_dir.glob("*.json")):
                return
            time.sleep(POLL_SECONDS)
            self.read_new_trials()

    def should_replace(self, worker: WorkerProcess, code: int) -> bool:
        """A worker that ended while budget is left is replaced: after its --trials-per-worker, or when it was killed. One
        that ended by itself (the search had nothing left to try) is not."""
        if self.error or self.guard.interrupted or self.guard.exhausted() is not None or self.search_over() or self.backend_ended:
            return False
        if code == 0:
            return self.config.trials_per_worker is not None
        return code not in (2, 130)

    def record_killed(self, worker: str) -> bool:
        """The trial a killed worker was running: failed in our records now (from its last checkpoint), and in the
        backend's storage at the end (`settle_storage`), unless its own heartbeat fails it first. Whether it had one."""
        running, written = record_lost_trial(self.folder, self.guard, worker, self.setup.task.objective.metric)
        if running is None:
            return False
        if written:
            self.run["killed_trials_recorded"] = self.run.get("killed_trials_recorded", 0) + 1
        self.killed.append({**running, "killed_at": time.time()})
        return True

    def read_new_trials(self) -> None:
        """New lines of trials.jsonl: progress, and run.json's spent budget rewritten."""
        records = self.tail.read()
        for record in records:
            self.view.on_trial(record)
            self.trials_seen += 1
        if records:
            self.run["budget_spent"] = self.guard.spent()
            self.run["worker_processes"] = [w.describe() for w in self.ended + self.workers]
            self.folder.write_run(self.run)

    def stop_workers(self, reason: str) -> None:
        """Stop new claims and ask each worker, once, to stop at its next batch (a second SIGINT would stop it at once)."""
        self.ledger.stop(reason)
        for worker in self.workers:
            if worker.process.poll() is None and worker.name not in self.signalled:
                self.signalled.add(worker.name)
                try:
                    os.kill(worker.process.pid, signal.SIGINT)
                except ProcessLookupError:
                    pass

    def on_interrupt(self, signum: int, frame: Any) -> None:
        """First Ctrl-C: every worker stops at its next batch, its trial recorded failed. Second: stop them at once."""
        self.interrupts += 1
        self.guard.interrupt()
        if self.interrupts == 1:
            if not self.quiet:
                print("\nstopping: every worker's running trial is cut short and recorded as failed (Ctrl-C again to stop at once)",
                      file=sys.stderr)
            self.stop_workers("interrupted")
        else:
            for worker in self.workers:
                if worker.process.poll() is None:
                    worker.process.kill()

    def settle_storage(self) -> None:
        """Trials the backend's storage still holds as running (killed workers'): failed there too, as in our records."""
        if self.group is None or (not self.killed and not self.setup.resumed):  # group None: failed before the backend's side was made
            return
        from bench.run.harness import Harness

        trials, _ = self.folder.read_trials()
        harness = Harness(task=self.setup.task, guard=self.guard, folder=self.folder, work_dir=self.setup.work_dir, seed=self.config.seed,
                          recorded=trials)
        self.group.settle_killed(harness, self.killed)

    def process_startup_seconds(self, trials: list[dict[str, Any]]) -> float | None:
        """From this command's process start to the first trial of this session (on any worker): interpreter, imports,
        data, the backend's set-up (a study, a server) and the workers' own start, as a one-process run records it."""
        return session_startup_seconds(self.ledger, trials, self.setup.spent_seconds)

    def finish(self, status: str) -> dict[str, Any]:
        if self.group is not None:
            self.group.close()
        if self.config.storage is None or self.killed:
            self.settle_storage()
        from bench.run.objectives import pareto_trials
        from bench.run.records import DiskMeter

        trials, _ = self.folder.read_trials()
        disk = DiskMeter(self.setup.work_dir, peak=max([self.setup.disk_peak] + [int(t.get("disk_bytes") or 0) for t in trials]))
        self.run.update(finish_record(trials, self.guard, disk, self.run, status, self.error, self.setup.task.objective))
        budget, spent = self.config.budget, self.guard.spent()
        self.run["overshoot"] = {  # beyond a limit: trials already running when it was reached finished their epoch
            "trials": max(0, spent["trials"] - budget.trials) if budget.trials else 0,
            "epochs": max(0, spent["epochs"] - budget.epoch_budget) if budget.epoch_budget else 0,
            "seconds": round(max(0.0, spent["seconds"] - budget.time_budget), 3) if budget.time_budget else 0.0,
        }
        startup = self.process_startup_seconds(trials)
        if startup is not None:
            self.run["process_startup_seconds"] = startup
        self.run["memory_peak_bytes"] = max([int(t.get("memory_rss_bytes") or 0) for t in trials] + [0])  # any one worker's
        self.run["worker_processes"] = [w.describe() for w in self.ended + self.workers]
        self.run["trials_by_worker"] = {name: sum(1 for t in trials if t.get("worker") == name)
                                        for name in sorted({str(t.get("worker")) for t in trials})}
        if self.config.search_objectives:
            self.run["pareto_trials"] = pareto_trials(sorted(trials, key=lambda t: t["number"]), self.config.search_objectives)
        self.run["ended_at"] = _now()
        self.folder.write_run(self.run)
        return self.run


def spawn_worker(run_dir: Path, backend_env: dict[str, str], name: str, index: int, device: str, log: Path,
                 env: dict[str, str]) -> WorkerProcess:
    """`python -m bench.run.worker` for this run, in its own session (a terminal's Ctrl-C reaches the coordinator only);
    `backend_env`: what the backend adds for this worker (Backend.worker_env)."""
    env = {**env, **backend_env}
    log.parent.mkdir(parents=True, exist_ok=True)
    process = subprocess.Popen([sys.executable, "-m", "bench.run.worker", str(run_dir), "--worker", name, "--index", str(index)],
                               env=env, stdout=log.open("ab"), stderr=subprocess.STDOUT, start_new_session=True)
    return WorkerProcess(name, index, device, process, 0.0, log)


def join(run_dir: Path, workers: int, storage: str | None = None) -> int:
    """`bench join RUN_FOLDER`: add `workers` worker processes on this machine to a running run (the folder shared, e.g.
    over NFS; the backend's storage or server reachable). Their trials go into the run's trials.jsonl under
    names host-pid-k, and spend the run's budget; returns when they end. `storage`: the run's --storage URL typed again
    (run.json keeps it without its password)."""
    run = RunFolder(run_dir).read_run()
    if run.get("status") != "running":
        raise UsageError(f"run {run['run_id']} is {run.get('status')}, not running; only a running run can be joined")
    if not (run.get("workers", 1) > 1 or (run.get("config") or {}).get("storage") or (run.get("config") or {}).get("trials_per_worker")):
        raise UsageError(f"run {run['run_id']} runs in one process; start it with --workers N to join it")
    env = dict(os.environ)
    url = full_storage_url((run.get("config") or {}).get("storage"), storage)
    if url:
        env[STORAGE_URL_VARIABLE] = url
    host = socket.gethostname()
    devices = (run.get("config") or {}).get("devices") or run.get("device") or "cpu"
    from backends.registry import get_backend

    backend = get_backend(run["backend"])
    started = []
    for k in range(workers):
        name = f"{host}-{os.getpid()}-{k}"
        index = 1000 + 16 * (os.getpid() % 4096) + k  # apart from the run's own workers and from other joins: seeds differ
        started.append(spawn_worker(run_dir, backend.worker_env(run, name), name, index, devices.split(",")[k % len(devices.split(","))],
                                    run_dir / WORKER_LOGS / f"{name}.log", env))
    codes = [w.process.wait() for w in started]
    ledger = Ledger(run_dir)
    for worker, code in zip(started, codes):
        if code not in (0, 2, 130) and not RunFolder(run_dir, worker=worker.name).running_json.exists():
            ledger.forget_worker(worker.name, started=False)  # killed before its trial began: its claim goes back
    return max(codes) if any(c not in (0, 130) for c in codes) else 0


def coordinate(setup: RunSetup, *, quiet: bool, verbose: bool) -> dict[str, Any]:
    """Run `setup` as its worker processes; returns the final run record."""
    from bench.run.progress import ProgressView

    backend = setup.backend
    if not backend.distributed:
        raise UsageError(f"backend {backend.name} has no multi-worker mode; drop --workers, --storage and --trials-per-worker")
    coordinator = Coordinator(setup, quiet=quiet, verbose=verbose)
    coordinator.view = ProgressView(coordinator.guard, setup.task.objective, quiet=quiet,
                                    title=f"{backend.name}/{setup.config.algorithm} x{setup.config.workers}")
    previous = signal.signal(signal.SIGINT, coordinator.on_interrupt)
    previous_term = signal.signal(signal.SIGTERM, coordinator.on_interrupt)  # as Ctrl-C: the workers stop and are recorded
    status = "crashed"
    try:
        coordinator.prepare_backend()
        with coordinator.view:
            status = coordinator.loop()
    except UsageError as exc:
        coordinator.error = str(exc)
    except Exception as exc:
        coordinator.error = scrub(f"{type(exc).__name__}: {exc}", setup.config.storage)
        raise
    finally:
        signal.signal(signal.SIGINT, previous)
        signal.signal(signal.SIGTERM, previous_term)
        for worker in coordinator.workers:  # an error here must not leave workers behind
            if worker.process.poll() is None:
                worker.process.kill()
        run = coordinator.finish(status)
    if coordinator.error:
        raise UsageError(scrub(coordinator.error.removeprefix("error: "), setup.config.storage))
    return run

