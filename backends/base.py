"""What a tuning backend must provide to run under tunebench's harness."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from backends.translation import NativeForm, TranslationError
from bench.run.objectives import SearchObjective
from bench.task.base import Objective
from search_space.params import Param
from search_space.space import SearchSpace

if TYPE_CHECKING:
    import subprocess
    from collections.abc import Callable

    from bench.run.budget import BudgetGuard
    from bench.run.harness import Harness


@dataclass
class RunContext:
    """Everything a backend's native loop needs; the harness does the training and recording."""

    space: SearchSpace
    harness: Harness
    guard: BudgetGuard
    algorithm: str
    pruner: str | None
    seed: int
    work_dir: Path  # the backend's own folder: its storage and checkpoints, billed to it as disk use
    resume: bool  # continue the backend's stored search; trials it still has as running were killed: mark them failed
    study_name: str
    run_dir: Path  # the run folder, for state tunebench keeps beside the backend's own (not billed to the backend)
    objective: Objective = field(default_factory=Objective)  # the task's: the metric its model logs, and whether to maximise or minimise it
    objectives: tuple[SearchObjective, ...] = ()  # --objectives: two or more to search; empty: the task's objective alone
    distribution: Distribution | None = None  # this process's part in a multi-worker run (None: the run's one process)
    workers: int = 1  # --workers: trials at once, for a backend whose library runs them itself (trials_in_own_processes)
    devices: tuple[str, ...] = ("cpu",)  # the devices of those trials (--devices; gpu:N each)


@dataclass(frozen=True)
class Distribution:
    """How one worker process takes part in a multi-worker run; the budget and trial numbers are the guard's (shared)."""

    worker: str  # its name in records (w0, w1, ...; host-pid for one that joined from elsewhere)
    index: int  # distinct per worker process: seeds its sampler apart from the others'
    role: str = "worker"  # or "server": a process of the backend's own that serves the workers and runs no trial
    storage: str | None = None  # the --storage URL (None: the backend's files in work_dir)
    trials_per_worker: int | None = None  # this process stops after so many trials (the coordinator starts another)


@dataclass(frozen=True)
class StoredTrial:
    """One trial as the backend's own storage holds it, read back from disk with the library's own API (not from
    tunebench): what the conformance kit compares tunebench's records with."""

    backend_trial_id: str
    state: str  # complete, pruned, failed or running
    value: float | None
    params: dict[str, Any]
    seconds: float | None = None  # the backend's own start-to-end time, where it keeps one (storage_keeps_time)
    values: dict[str, float] | None = None  # a multi-objective run: each objective's value as the backend stored it


@dataclass(frozen=True)
class SpeedMeasure:
    """One of a backend's own measures in the speed suite (`bench speed`, pytest-benchmark): one call of
    `run(work_dir, resources)` is one timed round; the table shows it per trial."""

    name: str  # unique within the backend, no brackets (a pytest id): e.g. overhead_per_trial-tpe-100
    run: Callable[[Path, dict[str, Any]], Any]  # resources: what `needs` named, from the suite's fixtures
    trials: int  # trials per round
    rounds: int = 1
    warmup_rounds: int = 0
    needs: tuple[str, ...] = ()  # resources the suite provides: "postgres" (a factory of fresh PostgreSQL databases' URLs)
    seconds_per_trial: bool = False  # `run` returns seconds per trial by its own clock (process start-up left out)


class ServerFailed(Exception):
    """A backend's own server process (WorkerGroup.start) ended other than by its search ending; its message says how."""


@dataclass
class WorkerServices:
    """What the coordinator lends a backend's WorkerGroup: where logs go, how to start a process of the backend's own
    (`python -m bench.run.worker RUN --server`, with more environment), and the run's record to note an address in."""

    run: dict[str, Any]  # run.json as the coordinator keeps it (the group may add keys, e.g. "service"; written at once)
    env: dict[str, str]  # the workers' environment (the storage URL included)
    start_server: Callable[[str, dict[str, str]], subprocess.Popen]  # (name, more environment) -> its process
    log_path: Callable[[str], Path]  # a process's log file by name
    last_line: Callable[[str], str]  # a process's last error line (else its last line) by name, secrets scrubbed
    write_run: Callable[[], None]


class WorkerGroup:
    """A backend's side of a multi-worker run (`--workers N`), driven by the coordinator, which starts, watches, replaces
    and stops the worker processes and keeps the shared budget: what the backend must set up before the first worker
    (a study, a server), watch while they run, settle after a worker was killed, and clean up."""

    def __init__(self, setup: Any, services: WorkerServices) -> None:
        self.setup, self.services = setup, services  # setup: the run's RunSetup (config, task, space, work_dir, resumed)

    def start(self) -> None:
        """Before the first worker starts (a resumed run's too)."""

    def search_ended(self) -> bool:
        """Whether the backend's own processes say that its search has ended (polled while workers run); raises
        ServerFailed when one of them died."""
        return False

    def settle_killed(self, harness: Harness, killed: list[dict[str, Any]]) -> None:
        """End in the backend's storage the trials that killed workers left running, as tunebench recorded them (each
        running-trial checkpoint in `killed`, with `killed_at`); a resumed run's older ones too."""

    def close(self) -> None:
        """After the last worker ended: stop what `start` started."""


YES = "yes"
NO = "no"


@dataclass(frozen=True)
class Capabilities:
    """What an algorithm can search, as `bench list` shows it: "yes", "no", or how it falls short (e.g. sampled at random)."""

    single: str = YES  # one objective
    multi: str = NO  # several objectives: "pareto" (a true multi-objective search), "scalarised: ...", or no
    conditional: str = YES  # parameters that exist only for some values of another
    categorical: str = YES
    multi_how: str = ""  # the whole story of `multi`, for run.json and the report (default: `multi` itself)

    def as_row(self) -> dict[str, str]:
        return {"single objective": self.single, "multi-objective": self.multi, "conditional": self.conditional,
                "categorical": self.categorical}


class Backend(ABC):
    """A tuning library adapter: translates the space and drives the library's own search loop."""

    name: ClassVar[str]
    description: ClassVar[str]
    algorithms: ClassVar[dict[str, str]]  # the first one is the default
    pruners: ClassVar[dict[str, str]] = {}
    pruner_aliases: ClassVar[dict[str, str]] = {}  # other names a user may type for a pruner (e.g. fifo for none)
    algorithm_flag: ClassVar[str] = "--algorithm"
    pruner_flag: ClassVar[str] = "--pruner"
    requires: ClassVar[tuple[str, ...]] = ()  # modules it needs beyond tunebench's own dependencies (an extra), checked up front
    install_hint: ClassVar[str] = ""  # how to install them, e.g. pip install -e ".[ray]"
    packages: ClassVar[tuple[str, ...]] = ()  # versions stored with every run
    directions: ClassVar[tuple[str, ...]] = ("max",)  # objective directions its loop honours (RunContext.objective)
    capabilities: ClassVar[dict[str, Capabilities]] = {}  # per algorithm; one not listed: single objective only
    rdb_storage: ClassVar[bool] = False  # keeps its search in an RDB given by --storage URL
    distributed: ClassVar[bool] = False  # runs --workers N processes on one search (RunContext.distribution; worker_group)
    storage_keeps_time: ClassVar[bool] = False  # its storage keeps each trial's start and end (StoredTrial.seconds)
    storage_keeps_front: ClassVar[bool] = False  # its storage computes a multi-objective Pareto front (stored_pareto_front)
    # Its library runs every trial in a process it starts itself (Ray's actors). The run then stays one process that drives
    # the library's loop (`run`), `--workers N` is the library's own concurrency (RunContext.workers), the budget is the
    # run's shared ledger (RunContext.guard is a SharedGuard), and each trial process builds its harness with
    # `bench.run.worker.worker_context(run_dir, name=...)`, claims its trial from the ledger and records it itself.
    trials_in_own_processes: ClassVar[bool] = False

    def missing_modules(self) -> list[str]:
        """Of the modules it `requires`, those not installed here."""
        import importlib.util

        return [module for module in self.requires if importlib.util.find_spec(module) is None]

    def capabilities_of(self, algorithm: str) -> Capabilities:
        return self.capabilities.get(algorithm, Capabilities())

    @property
    def default_algorithm(self) -> str:
        return next(iter(self.algorithms))

    def library_seed(self, seed: int) -> int:
        """The seed handed to the library for run seed `seed` (>= 0): one the library really honours."""
        return seed

    @abstractmethod
    def native_form(self, param: Param) -> NativeForm:
        """How this backend spells `param`; raises TranslationError when it cannot exactly."""

    def check_space(self, space: SearchSpace, algorithm: str | None = None, objectives: int = 1) -> list[str]:
        """Problems that stop this backend (with `algorithm`) from searching `space` (for `objectives` objectives) exactly."""
        problems = []
        if algorithm is not None:
            can = self.capabilities_of(algorithm)
            if objectives > 1 and can.multi == NO:
                multi = [name for name in self.algorithms if self.capabilities_of(name).multi != NO]
                problems.append(f"{self.name} {self.algorithm_flag} {algorithm} cannot search several objectives; "
                                f"use one of: {', '.join(multi) or 'none (this backend has no multi-objective search)'}")
            if can.conditional == NO and any(p.when is not None for p in space):
                able = [name for name in self.algorithms if self.capabilities_of(name).conditional != NO]
                problems.append(f"{self.name} {self.algorithm_flag} {algorithm} cannot search conditional parameters"
                                + (f"; use {self.algorithm_flag} {' or '.join(able)}" if able else ""))
            if can.categorical == NO and any(p.kind == "categorical" for p in space):
                problems.append(f"{self.name} {self.algorithm_flag} {algorithm} cannot search categorical parameters")
        for param in space:
            try:
                self.native_form(param)
            except TranslationError as exc:
                problems.append(str(exc))
        if algorithm == "grid":
            continuous = [p.name for p in space if p.size() is None]
            if continuous:
                problems.append(
                    f"{self.name}: the grid algorithm needs every parameter discrete, but {', '.join(continuous)} "
                    "is continuous; give it a step or make it categorical"
                )
        return problems

    @abstractmethod
    def run(self, ctx: RunContext) -> None:
        """Run the library's native search loop until it ends or the harness's guard says stop."""

    # -- multi-worker runs (when `distributed`)

    def worker_group(self, setup: Any, services: WorkerServices) -> WorkerGroup:
        """The backend's side of a multi-worker run; `setup` is the run's RunSetup."""
        return WorkerGroup(setup, services)

    def worker_env(self, run: dict[str, Any], name: str) -> dict[str, str]:
        """Environment a worker process named `name` needs beyond the run's (e.g. the address of the backend's server)."""
        return {}

    def before_resume(self, run: dict[str, Any], run_dir: Path) -> None:
        """Before a resume reads what a killed session left: stop the processes of the library's own that it left running
        (they could still record), so that nothing is recorded twice."""

    # -- its storage, described and read back

    def describe_storage(self, storage: str | None) -> str:
        """Where it keeps its search, for run.json (`storage`: the --storage URL with its password hidden, or None)."""
        return storage or f"{self.name}'s own files"

    def stored_trials(self, run: dict[str, Any]) -> list[StoredTrial]:
        """Every trial of a finished run (its run.json record) as the backend's own storage holds it, read with the
        library's own API: what the conformance kit checks tunebench's records against."""
        raise NotImplementedError(f"backend {self.name} cannot read its storage back")

    def stored_pareto_front(self, run: dict[str, Any]) -> list[int]:
        """Trial numbers on the Pareto front as the backend's storage computes it (when `storage_keeps_front`)."""
        raise NotImplementedError(f"backend {self.name} keeps no Pareto front")

    # -- the speed suite

    speed_scale_trials: ClassVar[tuple[int, int]] = (20, 200)  # zero-cost trials of `bench run` at scale: quick, full

    def speed_measures(self, quick: bool) -> list[SpeedMeasure]:
        """Its own measures (the backend's loop per trial with nothing to train, its storages): `quick` for the smoke run."""
        return []

    def hand_driven_search(self, space: str, n_trials: int, epochs: int, seed: int, work_dir: Path) -> float:
        """The search of the harness measure (digits, the space named, random search, `n_trials` of `epochs`) written the
        way the library's users write it, without tunebench; returns its seconds inside `model.fit`."""
        raise NotImplementedError(f"backend {self.name} has no hand-driven search for the harness measure")
