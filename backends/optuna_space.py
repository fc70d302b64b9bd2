"""Pure translation of a neutral search space into Optuna distributions and trial suggestions."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from backends.translation import NativeForm, TranslationError
from search_space.params import BoolParam, CategoricalParam, FixedParam, FloatParam, IntParam, Param
from search_space.space import SearchSpace

if TYPE_CHECKING:
    import optuna

BACKEND = "optuna"


def to_optuna_distribution(param: Param) -> optuna.distributions.BaseDistribution:
    """The Optuna distribution whose domain is exactly `param`'s domain, or a TranslationError."""
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    if isinstance(param, IntParam):
        if param.log and param.step != 1:
            raise TranslationError(BACKEND, param.name, f"IntDistribution cannot combine step={param.step} with log=True; drop one of them")
        return IntDistribution(param.low, param.high, log=param.log, step=param.step)
    if isinstance(param, FloatParam):
        if param.log and param.step is not None:
            raise TranslationError(BACKEND, param.name, f"FloatDistribution cannot combine step={param.step} with log=True; drop one of them")
        return FloatDistribution(param.low, param.high, log=param.log, step=param.step)
    if isinstance(param, CategoricalParam):
        return CategoricalDistribution(param.choices)
    if isinstance(param, BoolParam):
        return CategoricalDistribution((False, True))
    if isinstance(param, FixedParam):
        return CategoricalDistribution((param.value,))
    raise TranslationError(BACKEND, param.name, f"unsupported parameter type {type(param).__name__}")


def optuna_distributions(space: SearchSpace) -> dict[str, optuna.distributions.BaseDistribution]:
    """Every parameter's distribution, conditional ones included (they are sampled only when active)."""
    return {p.name: to_optuna_distribution(p) for p in space}


def suggest(trial: optuna.trial.BaseTrial, space: SearchSpace) -> dict[str, Any]:
    """Suggest every active parameter on `trial` (define-by-run) and return a plain dict."""
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    values: dict[str, Any] = {}
    for param in space:
        if not space.is_active(param, values):
            continue
        dist = to_optuna_distribution(param)
        if isinstance(dist, IntDistribution):
            raw: Any = trial.suggest_int(param.name, dist.low, dist.high, step=dist.step, log=dist.log)
        elif isinstance(dist, FloatDistribution):
            raw = trial.suggest_float(param.name, dist.low, dist.high, step=dist.step, log=dist.log)
        else:
            assert isinstance(dist, CategoricalDistribution)
            raw = trial.suggest_categorical(param.name, dist.choices)
        values[param.name] = param.canonical(raw)
    return values


def distribution_size(dist: optuna.distributions.BaseDistribution) -> int | None:
    """Distinct values Optuna can produce from `dist` (None when continuous)."""
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    if isinstance(dist, CategoricalDistribution):
        return len(dist.choices)
    if isinstance(dist, IntDistribution):
        return (dist.high - dist.low) // dist.step + 1
    if isinstance(dist, FloatDistribution) and dist.step is not None:
        return int(round((dist.high - dist.low) / dist.step)) + 1
    return None


def native_form(param: Param) -> NativeForm:
    dist = to_optuna_distribution(param)
    return NativeForm(BACKEND, repr(dist), distribution_size(dist))
