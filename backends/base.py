"""What a tuning backend must provide to run under tunebench's harness."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from backends.translation import NativeForm, TranslationError
from bench.run.objectives import SearchObjective
from bench.task.base import Objective
from search_space.params import Param
from search_space.space import SearchSpace

if TYPE_CHECKING:
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


@dataclass(frozen=True)
class Distribution:
    """How one worker process takes part in a multi-worker run; the budget and trial numbers are the guard's (shared)."""

    worker: str  # its name in records (w0, w1, ...; host-pid for one that joined from elsewhere)
    index: int  # distinct per worker process: seeds its sampler apart from the others'
    role: str = "worker"  # or "chief": KerasTuner's oracle server, which runs no trial
    storage: str | None = None  # Optuna: the RDB URL (None: the journal file in work_dir)
    chief: str | None = None  # KerasTuner: the chief's host:port
    trials_per_worker: int | None = None  # this process stops after so many trials (the coordinator starts another)


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
    algorithm_flag: ClassVar[str] = "--algorithm"
    packages: ClassVar[tuple[str, ...]] = ()  # versions stored with every run
    directions: ClassVar[tuple[str, ...]] = ("max",)  # objective directions its loop honours (RunContext.objective)
    capabilities: ClassVar[dict[str, Capabilities]] = {}  # per algorithm; one not listed: single objective only
    rdb_storage: ClassVar[bool] = False  # keeps its search in an RDB given by --storage URL
    distributed: ClassVar[bool] = False  # runs --workers N processes on one search (RunContext.distribution)

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
                problems.append(f"{self.name} {self.algorithm_flag} {algorithm} cannot search conditional parameters")
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
