"""What a tuning backend must provide to run under tunebench's harness."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from backends.translation import NativeForm, TranslationError
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


class Backend(ABC):
    """A tuning library adapter: translates the space and drives the library's own search loop."""

    name: ClassVar[str]
    description: ClassVar[str]
    algorithms: ClassVar[dict[str, str]]  # the first one is the default
    pruners: ClassVar[dict[str, str]] = {}
    algorithm_flag: ClassVar[str] = "--algorithm"
    packages: ClassVar[tuple[str, ...]] = ()  # versions stored with every run
    directions: ClassVar[tuple[str, ...]] = ("max",)  # objective directions its loop honours (RunContext.objective)

    @property
    def default_algorithm(self) -> str:
        return next(iter(self.algorithms))

    def library_seed(self, seed: int) -> int:
        """The seed handed to the library for run seed `seed` (>= 0): one the library really honours."""
        return seed

    @abstractmethod
    def native_form(self, param: Param) -> NativeForm:
        """How this backend spells `param`; raises TranslationError when it cannot exactly."""

    def check_space(self, space: SearchSpace, algorithm: str | None = None) -> list[str]:
        """Problems that stop this backend (with `algorithm`) from searching `space` exactly."""
        problems = []
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
