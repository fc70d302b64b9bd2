"""A suite file: cases (task, data options, space, budget, seeds), validated on load, with a `quick` form for CI.

    name: standard
    seeds: 3
    budget: {trials: 8, max_epochs: 4}          # every case's, unless a case sets its own fields
    quick: {seeds: 1, budget: {trials: 3, max_epochs: 2}}
    cases:
    - {name: digits-cnn, task: cnn, dataset: digits, train_subset: 600, quick: {train_subset: 300}}
    - {name: diabetes-mlp, task: mlp-regression}
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from bench.errors import UsageError, excerpt

SHIPPED_DIR = Path(__file__).resolve().parent / "shipped"
BUDGET_KEYS = ("trials", "max_epochs", "epoch_budget", "time_budget")
CASE_OPTION_KEYS = ("task", "dataset", "data_dir", "train_subset", "space", "patience")
CASE_KEYS = ("name", *CASE_OPTION_KEYS, "seeds", "budget", "quick")
SUITE_KEYS = ("name", "description", "seeds", "budget", "quick", "cases")
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


class SuiteError(UsageError):
    """A suite file that cannot be run as written: one line naming the file, the case and the key."""


@dataclass(frozen=True)
class Case:
    """One problem of the suite: what `bench run` is given besides the backend, algorithm and seed."""

    name: str
    task: str = "cnn"
    dataset: str | None = None
    data_dir: str | None = None
    train_subset: int | None = None
    space: str | None = None
    patience: int | None = None
    seeds: int = 3
    budget: Mapping[str, float | int] = field(default_factory=dict)

    def run_flags(self) -> list[str]:
        """The `bench run` flags this case sets (task, data, space, budget)."""
        flags: list[str] = []
        for key in (*CASE_OPTION_KEYS, *BUDGET_KEYS):
            value = getattr(self, key) if key in CASE_OPTION_KEYS else self.budget.get(key)
            if value is not None:
                flags += ["--" + key.replace("_", "-"), str(value)]
        return flags

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "budget": dict(self.budget)}


@dataclass(frozen=True)
class Suite:
    name: str
    cases: tuple[Case, ...]
    description: str = ""
    source: str = ""  # the file it was read from
    quick: bool = False  # the quick form (the file's `quick` overrides applied)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "description": self.description, "source": self.source, "quick": self.quick,
                "cases": [c.to_dict() for c in self.cases]}


def shipped_suites() -> list[str]:
    return sorted(p.stem for p in SHIPPED_DIR.glob("*.yaml"))


def suite_path(reference: str) -> Path:
    """A shipped suite's name, or a YAML file."""
    if reference in shipped_suites():
        return SHIPPED_DIR / f"{reference}.yaml"
    path = Path(reference)
    if not path.is_file():
        raise SuiteError(f"--suite {excerpt(reference)}: no such file, and no shipped suite of that name "
                         f"(shipped: {', '.join(shipped_suites())})")
    return path


def load_suite(reference: str, *, quick: bool = False) -> Suite:
    """Read and check a suite file; `quick`: apply its `quick` overrides (fewer seeds, smaller budgets and data)."""
    from search_space.io import _yaml

    path = suite_path(reference)
    yaml, loader = _yaml()
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=loader)
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise SuiteError(f"{path}: not a readable YAML file ({excerpt(str(exc).splitlines()[0] if str(exc) else type(exc).__name__, 100)})") from None
    suite_from_dict(data, where=str(path), quick=not quick)  # both forms checked: a typo in `quick` fails here, not in CI
    return suite_from_dict(data, where=str(path), quick=quick)


def suite_from_dict(data: Any, *, where: str = "suite", quick: bool = False) -> Suite:
    if not isinstance(data, Mapping):
        raise SuiteError(f"{where}: a suite is a mapping with 'name' and 'cases', but got {excerpt(data)}")
    _refuse_unknown(data, SUITE_KEYS, where)
    name = _name(data.get("name"), f"{where}: suite name")
    overrides = _mapping(data.get("quick"), f"{where}: quick") if quick else {}
    _refuse_unknown(overrides, ("seeds", "budget"), f"{where}: quick")
    seeds = _positive(data.get("seeds", 3), f"{where}: seeds")
    budget = _budget(data.get("budget"), f"{where}: budget")
    cases = data.get("cases")
    if not isinstance(cases, list) or not cases:
        raise SuiteError(f"{where}: 'cases' must be a non-empty list of cases (each a mapping with name and task)")
    built = tuple(_case(item, i, where, seeds, budget, quick, overrides) for i, item in enumerate(cases))
    names = [c.name for c in built]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise SuiteError(f"{where}: case name {twice[0]!r} is used twice; give every case its own name")
    description = data.get("description") or ""
    if not isinstance(description, str):
        raise SuiteError(f"{where}: description must be text")
    return Suite(name=name, cases=built, description=description, source=where, quick=quick)


def _case(item: Any, index: int, where: str, seeds: int, budget: dict[str, Any], quick: bool,
          quick_suite: Mapping[str, Any]) -> Case:
    """Later wins: the suite's values, the case's, the suite's `quick` block, the case's `quick` block."""
    label = f"{where}: case {excerpt(item.get('name'))}" if isinstance(item, Mapping) and "name" in item else f"{where}: case #{index + 1}"
    if not isinstance(item, Mapping):
        raise SuiteError(f"{label}: must be a mapping (name, task, dataset, ...), but got {excerpt(item)}")
    _refuse_unknown(item, CASE_KEYS, label)
    overrides = _mapping(item.get("quick"), f"{label}: quick") if quick else {}
    _refuse_unknown(overrides, tuple(k for k in CASE_KEYS if k not in ("name", "quick")), f"{label}: quick")
    merged = {**{k: v for k, v in item.items() if k != "quick"}, **{k: v for k, v in overrides.items() if k != "budget"}}
    chosen_seeds = overrides.get("seeds", quick_suite.get("seeds", item.get("seeds", seeds)))
    case = Case(name=_name(merged.get("name"), f"{label}: name"),
                seeds=_positive(chosen_seeds, f"{label}: seeds"),
                budget={**budget, **_budget(item.get("budget"), f"{label}: budget"),
                        **_budget(quick_suite.get("budget"), f"{where}: quick.budget"),
                        **_budget(overrides.get("budget"), f"{label}: quick.budget")})
    for key in ("task", "dataset", "data_dir", "space"):
        if merged.get(key) is not None:
            if not isinstance(merged[key], str) or not merged[key]:
                raise SuiteError(f"{label}: {key} must be text, but got {excerpt(merged[key])}")
            case = replace(case, **{key: merged[key]})
    for key in ("train_subset", "patience"):
        if merged.get(key) is not None:
            case = replace(case, **{key: _positive(merged[key], f"{label}: {key}")})
    return case


def _refuse_unknown(data: Mapping[str, Any], allowed: tuple[str, ...], where: str) -> None:
    unknown = sorted(str(k) for k in data if k not in allowed)
    if unknown:
        raise SuiteError(f"{where}: unknown key {excerpt(unknown[0])}; allowed: {', '.join(allowed)}")


def _mapping(value: Any, where: str) -> Mapping[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise SuiteError(f"{where}: must be a mapping, but got {excerpt(value)}")
    return value


def _name(value: Any, where: str) -> str:
    if not isinstance(value, str) or not NAME.fullmatch(value):
        raise SuiteError(f"{where}: {excerpt(value)} is not a name (letters, digits, '-', '_', '.'; up to 64; it names a folder)")
    return value


def _positive(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise SuiteError(f"{where}: expected a positive integer, but got {excerpt(value)}")
    return value


def _budget(value: Any, where: str) -> dict[str, Any]:
    budget = dict(_mapping(value, where))
    _refuse_unknown(budget, BUDGET_KEYS, where)
    for key, item in budget.items():
        if key == "time_budget":
            if isinstance(item, bool) or not isinstance(item, (int, float)) or not 0 < item < float("inf"):
                raise SuiteError(f"{where}: time_budget: expected positive, finite seconds, but got {excerpt(item)}")
        else:
            _positive(item, f"{where}: {key}")
    return budget
