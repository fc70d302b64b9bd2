"""Backend-neutral parameter types. Each one validates itself when it is built."""

from __future__ import annotations

import math
import re
import reprlib
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, ClassVar, Union

Scalar = Union[None, bool, int, float, str]
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]*$")
MAX_NAME_CHARS = 100
EXCERPT_CHARS = 60
_EXCERPT = reprlib.Repr()
for _key, _value in {"maxlevel": 2, "maxtuple": 4, "maxlist": 4, "maxdict": 4, "maxset": 4, "maxstring": 40, "maxlong": 40, "maxother": 40}.items():
    setattr(_EXCERPT, _key, _value)


def excerpt(value: object, limit: int = EXCERPT_CHARS) -> str:
    """A short repr of a user's value for an error message: never more than about `limit` characters, however big it is."""
    text = repr(value) if isinstance(value, str) and len(value) <= limit else _EXCERPT.repr(value)
    if len(text) > limit:
        text = text[: limit - 3] + "..."
    return text


class SpaceError(ValueError):
    """A search space breaks a rule. Holds one message per problem."""

    def __init__(self, problems: str | list[str]) -> None:
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("\n".join(self.problems))


def _fail(name: str, rule: str) -> SpaceError:
    return SpaceError(f"parameter {excerpt(name)}: {rule}")


def is_scalar(value: object) -> bool:
    """True for the value types every backend can store: None, bool, int, float, str."""
    return value is None or isinstance(value, (bool, int, float, str))


def scalar_key(value: Scalar) -> tuple[str, Scalar]:
    """A key that tells `True` from `1` and `1` from `1.0`, for duplicate checks."""
    return (type(value).__name__, value)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


@dataclass(frozen=True)
class Condition:
    """The owning parameter exists only when `parent` takes one of `values`."""

    parent: str
    values: tuple[Scalar, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "values", tuple(self.values))
        if not isinstance(self.parent, str) or not self.parent:
            raise SpaceError(f"condition: `parent` must be a parameter name, but got {excerpt(self.parent)}")
        if not self.values:
            raise SpaceError(f"condition on {excerpt(self.parent)}: `in` must list at least one value")
        if not all(is_scalar(v) for v in self.values):
            raise SpaceError(f"condition on {excerpt(self.parent)}: values must be scalars, but got {excerpt(self.values)}")

    def holds(self, parent_value: Scalar) -> bool:
        return scalar_key(parent_value) in {scalar_key(v) for v in self.values}


@dataclass(frozen=True, kw_only=True)
class Param:
    """Common part of every parameter: a name and an optional condition."""

    kind: ClassVar[str] = ""
    name: str
    when: Condition | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not _NAME.match(self.name):
            raise SpaceError(
                f"parameter {excerpt(self.name)}: name must start with a letter or '_' and hold only "
                "letters, digits, '_', '.', '-'"
            )
        if len(self.name) > MAX_NAME_CHARS:
            raise SpaceError(f"parameter {excerpt(self.name)}: name has {len(self.name)} characters; at most {MAX_NAME_CHARS} are allowed")

    def contains(self, value: object) -> bool:
        """Whether `value` lies in this parameter's domain."""
        raise NotImplementedError

    def grid(self) -> tuple[Scalar, ...] | None:
        """Every value in domain order, or None when the domain is continuous."""
        raise NotImplementedError

    def size(self) -> int | None:
        """Number of distinct values, or None when continuous."""
        grid = self.grid()
        return None if grid is None else len(grid)

    def canonical(self, value: Any) -> Any:
        """The domain's own spelling of a sampled value (snaps float noise onto the grid)."""
        return value


@dataclass(frozen=True, kw_only=True)
class IntParam(Param):
    """Integers low..high (both included) on a step grid, optionally sampled in log scale."""

    kind: ClassVar[str] = "int"
    low: int
    high: int
    step: int = 1
    log: bool = False

    def __post_init__(self) -> None:
        super().__post_init__()
        n = self.name
        for key in ("low", "high", "step"):
            if not _is_int(getattr(self, key)):
                raise _fail(n, f"`{key}` must be an integer, but got {excerpt(getattr(self, key))}")
        if not isinstance(self.log, bool):
            raise _fail(n, f"`log` must be true or false, but got {excerpt(self.log)}")
        if self.low > self.high:
            raise _fail(n, f"`low <= high` must hold, but got (low={excerpt(self.low)}, high={excerpt(self.high)})")
        if self.step < 1:
            raise _fail(n, f"`step >= 1` must hold, but got step={excerpt(self.step)}")
        if (self.high - self.low) % self.step:
            raise _fail(
                n,
                f"step {excerpt(self.step)} does not fit the range: high - low = {excerpt(self.high - self.low)} "
                f"is not a multiple of it (low={excerpt(self.low)}, high={excerpt(self.high)})",
            )
        if self.log and self.low <= 0:
            raise _fail(n, f"log scale needs `low > 0`, but got low={excerpt(self.low)}")

    def contains(self, value: object) -> bool:
        return _is_int(value) and self.low <= value <= self.high and (value - self.low) % self.step == 0  # type: ignore[operator]

    def grid(self) -> tuple[int, ...]:
        return tuple(range(self.low, self.high + 1, self.step))

    def canonical(self, value: Any) -> int:
        return int(value)


@dataclass(frozen=True, kw_only=True)
class FloatParam(Param):
    """Reals in [low, high]; with `step`, the grid low, low+step, ..., high."""

    kind: ClassVar[str] = "float"
    low: float
    high: float
    step: float | None = None
    log: bool = False

    def __post_init__(self) -> None:
        super().__post_init__()
        n = self.name
        for key in ("low", "high"):
            value = getattr(self, key)
            if not _is_number(value) or not math.isfinite(value):
                raise _fail(n, f"`{key}` must be a finite number, but got {excerpt(value)}")
            object.__setattr__(self, key, float(value))
        if not isinstance(self.log, bool):
            raise _fail(n, f"`log` must be true or false, but got {excerpt(self.log)}")
        if self.low > self.high:
            raise _fail(n, f"`low <= high` must hold, but got (low={excerpt(self.low)}, high={excerpt(self.high)})")
        if self.log and self.low <= 0:
            raise _fail(n, f"log scale needs `low > 0`, but got low={excerpt(self.low)}")
        if self.step is not None:
            if not _is_number(self.step) or not self.step > 0:
                raise _fail(n, f"`step > 0` must hold, but got step={excerpt(self.step)}")
            object.__setattr__(self, "step", float(self.step))
            span = Decimal(repr(self.high)) - Decimal(repr(self.low))
            if span % Decimal(repr(self.step)) != 0:
                raise _fail(
                    n,
                    f"step {excerpt(self.step)} does not fit the range: high - low = {span} is not a multiple "
                    f"of it (low={excerpt(self.low)}, high={excerpt(self.high)})",
                )

    def _decimals(self) -> int:
        exponent = Decimal(repr(self.step)).normalize().as_tuple().exponent
        low_exp = Decimal(repr(self.low)).normalize().as_tuple().exponent
        return max(0, -min(int(exponent), int(low_exp)))

    def contains(self, value: object) -> bool:
        if not _is_number(value) or not math.isfinite(value):  # type: ignore[arg-type]
            return False
        tol = 1e-9 * max(1.0, abs(self.high), abs(self.low))
        if not self.low - tol <= value <= self.high + tol:  # type: ignore[operator]
            return False
        if self.step is None:
            return True
        k = (value - self.low) / self.step  # type: ignore[operator]
        return abs(k - round(k)) < 1e-6

    def grid(self) -> tuple[float, ...] | None:
        if self.step is None:
            return None
        count = int(round((self.high - self.low) / self.step)) + 1
        return tuple(round(self.low + i * self.step, self._decimals()) for i in range(count))

    def canonical(self, value: Any) -> float:
        if self.step is None:
            return float(min(max(float(value), self.low), self.high))
        k = round((float(value) - self.low) / self.step)
        return round(self.low + k * self.step, self._decimals())


@dataclass(frozen=True, kw_only=True)
class CategoricalParam(Param):
    """One of a list of scalar choices; the choices may mix value types."""

    kind: ClassVar[str] = "categorical"
    choices: tuple[Scalar, ...]

    def __post_init__(self) -> None:
        super().__post_init__()
        if isinstance(self.choices, (str, bytes)) or not hasattr(self.choices, "__iter__"):
            raise _fail(self.name, f"`choices` must be a list, but got {excerpt(self.choices)}")
        object.__setattr__(self, "choices", tuple(self.choices))
        if not self.choices:
            raise _fail(self.name, "`choices` must not be empty")
        bad = [c for c in self.choices if not is_scalar(c)]
        if bad:
            raise _fail(self.name, f"choices must be null, bool, int, float or str, but got {excerpt(bad[0])}")
        seen: set[tuple[str, Scalar]] = set()
        for choice in self.choices:
            if scalar_key(choice) in seen:
                raise _fail(self.name, f"duplicate choice {excerpt(choice)}")
            seen.add(scalar_key(choice))

    def contains(self, value: object) -> bool:
        return is_scalar(value) and scalar_key(value) in {scalar_key(c) for c in self.choices}  # type: ignore[arg-type]

    def grid(self) -> tuple[Scalar, ...]:
        return self.choices

    def value_types(self) -> set[type]:
        return {type(c) for c in self.choices}


@dataclass(frozen=True, kw_only=True)
class BoolParam(Param):
    """True or False."""

    kind: ClassVar[str] = "bool"

    def contains(self, value: object) -> bool:
        return isinstance(value, bool)

    def grid(self) -> tuple[bool, ...]:
        return (False, True)


@dataclass(frozen=True, kw_only=True)
class FixedParam(Param):
    """A constant that is recorded with every trial but never searched."""

    kind: ClassVar[str] = "fixed"
    value: Scalar = field(default=None)

    def __post_init__(self) -> None:
        super().__post_init__()
        if not is_scalar(self.value):
            raise _fail(self.name, f"fixed `value` must be null, bool, int, float or str, but got {excerpt(self.value)}")

    def contains(self, value: object) -> bool:
        return is_scalar(value) and scalar_key(value) == scalar_key(self.value)  # type: ignore[arg-type]

    def grid(self) -> tuple[Scalar, ...]:
        return (self.value,)


PARAM_TYPES: dict[str, type[Param]] = {
    cls.kind: cls for cls in (IntParam, FloatParam, CategoricalParam, BoolParam, FixedParam)
}
