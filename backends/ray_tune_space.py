"""Pure translation of a neutral search space into Ray Tune's search-space domains (`tune.uniform`, `tune.choice`, ...).

Ray Tune's random search (`BasicVariantGenerator`) and `HyperOptSearch` sample the `param_space` built here; its grid
search gets `tune.grid_search` of every parameter's values; `OptunaSearch` is given Optuna's own define-by-run
suggestions instead (backends/optuna_space.py), so it searches exactly what the Optuna backend searches.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from backends.translation import NativeForm, TranslationError
from search_space.params import BoolParam, CategoricalParam, FixedParam, FloatParam, IntParam, Param
from search_space.space import SearchSpace

BACKEND = "ray-tune"
STEP_NOTE = "a step grid as tune.choice of its points: Ray's q-domains round from 0 and draw the two ends half as often"


@dataclass(frozen=True)
class RayForm:
    """One Ray Tune domain, `tune.<function>(*args)`, or a constant (`function` "constant", `args` its one value)."""

    function: str
    args: tuple[Any, ...]
    size: int | None  # distinct values (None: continuous)
    note: str = ""

    def domain(self) -> Any:
        """The Ray Tune object itself (imports Ray)."""
        if self.function == "constant":
            return self.args[0]
        from ray import tune

        if self.function in ("choice", "grid_search"):
            return getattr(tune, self.function)(list(self.args))
        return getattr(tune, self.function)(*self.args)

    @property
    def text(self) -> str:
        if self.function == "constant":
            return repr(self.args[0])
        if self.function in ("choice", "grid_search"):
            return f"tune.{self.function}({list(self.args)!r})"
        return f"tune.{self.function}({', '.join(repr(a) for a in self.args)})"


def to_ray_form(param: Param) -> RayForm:
    """The Ray Tune domain whose values are exactly `param`'s, or a TranslationError."""
    if isinstance(param, IntParam):
        if param.step != 1:
            if param.log:
                raise TranslationError(BACKEND, param.name, f"Ray has no log-scaled integer grid with step={param.step}; drop step or log")
            grid = param.grid()
            return RayForm("choice", grid, len(grid), STEP_NOTE)
        size = param.high - param.low + 1
        return RayForm("lograndint" if param.log else "randint", (param.low, param.high + 1), size,
                       "upper bound exclusive in Ray: high + 1")
    if isinstance(param, FloatParam):
        if param.step is not None:
            if param.log:
                raise TranslationError(BACKEND, param.name, f"Ray has no log-scaled float grid with step={param.step}; drop step or log")
            grid = param.grid() or ()
            return RayForm("choice", grid, len(grid), STEP_NOTE)
        return RayForm("loguniform" if param.log else "uniform", (param.low, param.high), None)
    if isinstance(param, CategoricalParam):
        return RayForm("choice", tuple(param.choices), len(param.choices))
    if isinstance(param, BoolParam):
        return RayForm("choice", (False, True), 2)
    if isinstance(param, FixedParam):
        return RayForm("constant", (param.value,), 1)
    raise TranslationError(BACKEND, param.name, f"unsupported parameter type {type(param).__name__}")


def to_grid_form(param: Param) -> RayForm:
    """For Ray's grid search: every value of a discrete parameter, once (a continuous one is refused by check_space)."""
    if isinstance(param, FixedParam):
        return RayForm("constant", (param.value,), 1)
    grid = param.grid()
    if grid is None:
        raise TranslationError(BACKEND, param.name, "grid search needs a discrete parameter; give it a step or make it categorical")
    return RayForm("grid_search", tuple(grid), len(grid))


def ray_forms(space: SearchSpace, algorithm: str) -> dict[str, RayForm]:
    """Every parameter's form for `algorithm`'s param_space (conditional parameters are refused by the capabilities)."""
    translate = to_grid_form if algorithm == "grid" else to_ray_form
    return {p.name: translate(p) for p in space}


def param_space(space: SearchSpace, algorithm: str) -> dict[str, Any]:
    """The `param_space` handed to `tune.Tuner` (imports Ray)."""
    return {name: form.domain() for name, form in ray_forms(space, algorithm).items()}


def canonical_params(space: SearchSpace, config: dict[str, Any]) -> dict[str, Any]:
    """A trial's config as the neutral space spells it (grid points rounded as the space writes them; inactive conditional
    parameters, which OptunaSearch never suggests, left out; anything else in Ray's config ignored)."""
    return {p.name: p.canonical(config[p.name]) for p in space if p.name in config and space.is_active(p, config)}


def native_form(param: Param) -> NativeForm:
    form = to_ray_form(param)
    return NativeForm(BACKEND, form.text, form.size, form.note)


class DefineByRun:
    """OptunaSearch's define-by-run space: the Optuna backend's own suggestions, as the space spells them (a class, so that
    Ray can pickle the searcher's state)."""

    def __init__(self, space: SearchSpace) -> None:
        self.space = space

    def __call__(self, trial: Any) -> dict[str, Any]:
        from backends.optuna_space import suggest

        return suggest(trial, self.space)
