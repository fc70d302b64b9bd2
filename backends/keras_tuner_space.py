"""Pure translation of a neutral search space into KerasTuner `hp` declarations."""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from backends.translation import NativeForm, TranslationError
from search_space.params import (
    BoolParam,
    CategoricalParam,
    FixedParam,
    FloatParam,
    IntParam,
    Param,
    Scalar,
)
from search_space.space import SearchSpace

if TYPE_CHECKING:
    import keras_tuner

BACKEND = "keras-tuner"
_CHOICE_TYPES = (int, float, str)  # not bool: hp.Choice silently turns bools into ints


@dataclass(frozen=True)
class KerasTunerForm:
    """One `hp.<method>(**kwargs)` declaration, plus the table that decodes labelled choices."""

    method: str
    kwargs: dict[str, Any] = field(hash=False)
    labels: tuple[Scalar, ...] | None = None  # label i (json text) stands for labels[i]
    note: str = ""

    def encode(self, value: Scalar) -> Any:
        """The native value that stands for neutral `value` (what KerasTuner compares a condition's values with)."""
        if self.labels is not None:
            return json.dumps(value)
        if self.method == "Float" and self.kwargs.get("step") is not None and isinstance(value, (int, float)):
            low, step = self.kwargs["min_value"], self.kwargs["step"]
            return low + round((value - low) / step) * step  # KerasTuner's own spelling of grid point k: 0.1 + 2 * 0.1, not 0.3
        return value

    def decode(self, raw: Any) -> Any:
        if self.labels is None:
            return raw
        return json.loads(raw)

    def declare(self, hp: keras_tuner.HyperParameters, name: str) -> Any:
        return getattr(hp, self.method)(name, **self.kwargs)

    def native(self, name: str) -> Any:
        """The KerasTuner HyperParameter object itself (for inspection and counting)."""
        import keras_tuner

        hp = keras_tuner.HyperParameters()
        self.declare(hp, name)
        return next(obj for obj in hp.space if obj.name == name)

    def size(self, name: str) -> int | None:
        obj = self.native(name)
        if self.method == "Int":
            return obj.max_value - obj.min_value + 1 if obj.step is None else obj._get_n_values()  # noqa: SLF001
        if self.method == "Float":
            return None if obj.step is None else obj._get_n_values()  # noqa: SLF001
        if self.method == "Choice":
            return len(obj.values)
        return {"Boolean": 2, "Fixed": 1}[self.method]

    def text(self, name: str) -> str:
        args = ", ".join([repr(name)] + [f"{k}={v!r}" for k, v in self.kwargs.items()])
        return f"hp.{self.method}({args})"


def _stepped_float_matches(param: FloatParam) -> bool:
    """Whether KerasTuner's own Float grid equals the neutral grid (float floor division can drop the top)."""
    import keras_tuner as kt

    hp = kt.HyperParameters()  # its public API: declare, then read the parameter object back from `hp.space`
    hp.Float(param.name, min_value=param.low, max_value=param.high, step=param.step)
    native = next(obj for obj in hp.space if obj.name == param.name)
    kt_values = [param.canonical(v) for v in native.values]
    return kt_values == list(param.grid() or ())


def to_keras_tuner(param: Param) -> KerasTunerForm:
    """The KerasTuner declaration whose domain is exactly `param`'s domain, or a TranslationError."""
    if isinstance(param, IntParam):
        if param.log and param.step != 1:
            raise TranslationError(
                BACKEND, param.name,
                f"with sampling='log' hp.Int treats step={param.step} as a multiplication factor, a different grid; drop step or log",
            )
        if param.log:
            return KerasTunerForm("Int", {"min_value": param.low, "max_value": param.high, "sampling": "log"})
        return KerasTunerForm("Int", {"min_value": param.low, "max_value": param.high, "step": param.step})
    if isinstance(param, FloatParam):
        if param.log and param.step is not None:
            raise TranslationError(
                BACKEND, param.name,
                f"with sampling='log' hp.Float treats step={param.step} as a multiplication factor, a different grid; drop step or log",
            )
        if param.step is None:
            return KerasTunerForm("Float", {"min_value": param.low, "max_value": param.high, "sampling": "log" if param.log else "linear"})
        if _stepped_float_matches(param):
            return KerasTunerForm("Float", {"min_value": param.low, "max_value": param.high, "step": param.step})
        return KerasTunerForm(
            "Choice", {"values": list(param.grid() or ()), "ordered": True},
            note="hp.Float's own grid misses values here (float rounding); declared as an ordered Choice of the exact grid",
        )
    if isinstance(param, CategoricalParam):
        types = param.value_types()
        if types == {bool} and len(param.choices) == 2:
            return KerasTunerForm("Boolean", {}, note="both booleans: declared as hp.Boolean (hp.Choice turns bools into ints)")
        if len(types) == 1 and next(iter(types)) in _CHOICE_TYPES:
            return KerasTunerForm("Choice", {"values": list(param.choices)})
        reason = "hp.Choice turns bools into ints" if bool in types else "hp.Choice takes one value type"
        return KerasTunerForm(
            "Choice", {"values": [json.dumps(c) for c in param.choices], "ordered": False},
            labels=param.choices,
            note=f"{reason}; choices are declared as JSON labels and decoded back",
        )
    if isinstance(param, BoolParam):
        return KerasTunerForm("Boolean", {})
    if isinstance(param, FixedParam):
        if param.value is None:
            return KerasTunerForm("Fixed", {"value": "null"}, labels=(None,), note="hp.Fixed takes no None; declared as the label 'null'")
        return KerasTunerForm("Fixed", {"value": param.value})
    raise TranslationError(BACKEND, param.name, f"unsupported parameter type {type(param).__name__}")


def declare(hp: keras_tuner.HyperParameters, space: SearchSpace) -> dict[str, Any]:
    """Declare every parameter on `hp` under its native conditional scopes; return the active values."""
    forms = {p.name: to_keras_tuner(p) for p in space}
    values: dict[str, Any] = {}
    for param in space:
        chain = [p for p in space.ancestry(param) + [param] if p.when is not None]
        with contextlib.ExitStack() as scopes:
            for member in chain:
                cond = member.when
                assert cond is not None
                parent_form = forms[cond.parent]
                scopes.enter_context(hp.conditional_scope(cond.parent, [parent_form.encode(v) for v in cond.values]))
            raw = forms[param.name].declare(hp, param.name)
        if space.is_active(param, values):
            if raw is None:
                raise TranslationError(BACKEND, param.name, "KerasTuner reports the parameter inactive although its condition holds")
            values[param.name] = param.canonical(forms[param.name].decode(raw))
    return values


def native_form(param: Param) -> NativeForm:
    form = to_keras_tuner(param)
    return NativeForm(BACKEND, form.text(param.name), form.size(param.name), form.note)

