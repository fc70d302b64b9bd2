"""A search space: named parameters, their conditions, and the order to sample them in."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from search_space.params import Param, SpaceError, excerpt


@dataclass(frozen=True)
class SearchSpace:
    """An ordered, validated collection of parameters. Parents always come before children."""

    params: tuple[Param, ...]
    name: str = "space"
    description: str = ""
    _by_name: dict[str, Param] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "params", tuple(self.params))
        problems = _check(self.params)
        if problems:
            raise SpaceError(problems)
        object.__setattr__(self, "params", _parents_first(self.params))
        object.__setattr__(self, "_by_name", {p.name: p for p in self.params})

    def __iter__(self) -> Iterator[Param]:
        return iter(self.params)

    def __len__(self) -> int:
        return len(self.params)

    def __getitem__(self, name: str) -> Param:
        return self._by_name[name]

    def __contains__(self, name: object) -> bool:
        return name in self._by_name

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.params)

    def is_active(self, param: Param, assignment: Mapping[str, Any]) -> bool:
        """Whether `param` exists given the values already chosen for its ancestors."""
        cond = param.when
        if cond is None:
            return True
        return cond.parent in assignment and cond.holds(assignment[cond.parent])

    def ancestry(self, param: Param) -> list[Param]:
        """The chain of conditional ancestors of `param`, outermost first (param excluded)."""
        chain: list[Param] = []
        current = param
        while current.when is not None:
            current = self[current.when.parent]
            chain.append(current)
        return chain[::-1]

    def violations(self, config: Mapping[str, Any]) -> list[str]:
        """Why `config` is not a point of this space (empty when it is)."""
        problems: list[str] = []
        assigned: dict[str, Any] = {}
        for param in self.params:
            active = self.is_active(param, assigned)
            if active and param.name not in config:
                problems.append(f"{excerpt(param.name)} is missing although its condition holds")
            elif not active and param.name in config:
                problems.append(f"{excerpt(param.name)} is present although its condition does not hold")
            elif active:
                value = config[param.name]
                if not param.contains(value):
                    problems.append(f"{excerpt(param.name)}={excerpt(value)} lies outside its domain")
                assigned[param.name] = value
        problems += [f"'{k}' is not a parameter of this space" for k in config if k not in self]
        return problems


def _check(params: Iterable[Param]) -> list[str]:
    problems: list[str] = []
    by_name: dict[str, Param] = {}
    for param in params:
        if not isinstance(param, Param):
            problems.append(f"{excerpt(param)} is not a parameter")
        elif param.name in by_name:
            problems.append(f"parameter {excerpt(param.name)}: duplicate name")
        else:
            by_name[param.name] = param
    for param in by_name.values():
        cond = param.when
        if cond is None:
            continue
        parent = by_name.get(cond.parent)
        if parent is None:
            problems.append(f"parameter {excerpt(param.name)}: condition on unknown parent {excerpt(cond.parent)}")
        elif parent is param:
            problems.append(f"parameter {excerpt(param.name)}: condition on itself")
        else:
            impossible = [v for v in cond.values if not parent.contains(v)]
            if impossible:
                problems.append(
                    f"parameter {excerpt(param.name)}: condition on {excerpt(cond.parent)} in {excerpt(list(cond.values))}, "
                    f"but {excerpt(cond.parent)} can never take {excerpt(impossible[0])}"
                )
    problems += _cycles(by_name)
    return problems


def _cycles(by_name: dict[str, Param]) -> list[str]:
    reported: set[frozenset[str]] = set()
    problems = []
    for start in by_name.values():
        path = [start.name]
        current = start
        while current.when is not None and current.when.parent in by_name:
            nxt = current.when.parent
            if nxt == start.name:
                cycle = frozenset(path)
                if cycle not in reported and len(path) > 1:
                    reported.add(cycle)
                    problems.append("cyclic conditions: " + " -> ".join(path + [start.name]))
                break
            if nxt in path:
                break
            path.append(nxt)
            current = by_name[nxt]
    return problems


def _parents_first(params: tuple[Param, ...]) -> tuple[Param, ...]:
    """Stable order where every parent precedes its children (the input has no cycles)."""
    placed: dict[str, Param] = {}
    by_name = {p.name: p for p in params}

    def place(param: Param) -> None:
        if param.name in placed:
            return
        if param.when is not None:
            place(by_name[param.when.parent])
        placed[param.name] = param

    for param in params:
        place(param)
    return tuple(placed.values())
