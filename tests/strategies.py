"""Hypothesis strategies for random valid search spaces."""

from __future__ import annotations

import dataclasses

from hypothesis import strategies as st

from search_space import BoolParam, CategoricalParam, Condition, FixedParam, FloatParam, IntParam, SearchSpace

_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-50, 50),
    st.floats(-10, 10, allow_nan=False).map(lambda x: round(x, 3)), st.text("abcxyz", min_size=1, max_size=4),
)


@st.composite
def int_params(draw, name, small):
    low = draw(st.integers(1, 20))
    step = draw(st.integers(1, 4))
    count = draw(st.integers(1, 4 if small else 30))
    log = False if small or step != 1 else draw(st.booleans())
    return IntParam(name=name, low=low, high=low + step * (count - 1), step=step, log=log)


@st.composite
def float_params(draw, name, small):
    steps = [0.1, 0.25, 0.5, 0.05, 0.2]
    if small or draw(st.booleans()):
        step = draw(st.sampled_from(steps))
        low = round(draw(st.integers(0, 10)) * step, 4)
        count = draw(st.integers(1, 4 if small else 12))
        return FloatParam(name=name, low=low, high=round(low + step * (count - 1), 4), step=step)
    low = draw(st.floats(1e-5, 1.0))
    log = draw(st.booleans())
    return FloatParam(name=name, low=low, high=low * draw(st.floats(1.5, 100.0)), log=log)


@st.composite
def categorical_params(draw, name, small):
    choices = draw(st.lists(_scalars, min_size=1, max_size=4 if small else 6, unique_by=lambda v: (type(v).__name__, v)))
    return CategoricalParam(name=name, choices=choices)


@st.composite
def spaces(draw, small: bool = False, max_params: int = 5):
    """A valid space of up to `max_params` parameters; some conditional on an earlier discrete one."""
    params = []
    for i in range(draw(st.integers(1, max_params))):
        name = f"p{i}"
        kind = draw(st.sampled_from(["int", "float", "categorical", "bool", "fixed"]))
        param = {
            "int": lambda: draw(int_params(name, small)),
            "float": lambda: draw(float_params(name, small)),
            "categorical": lambda: draw(categorical_params(name, small)),
            "bool": lambda: BoolParam(name=name),
            "fixed": lambda: FixedParam(name=name, value=draw(_scalars)),
        }[kind]()
        parents = [p for p in params if p.size() is not None and p.size() > 1]
        if parents and draw(st.booleans()):
            parent = draw(st.sampled_from(parents))
            grid = list(parent.grid())
            values = draw(st.lists(st.sampled_from(grid), min_size=1, max_size=max(1, len(grid) - 1), unique_by=lambda v: (type(v).__name__, v)))
            param = dataclasses.replace(param, when=Condition(parent.name, tuple(values)))
        params.append(param)
    return SearchSpace(tuple(params))
