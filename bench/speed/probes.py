"""What every speed measure shares, the backends' own included (backends/*_speed.py): the injected delay that tests of
the regression gate use, and a space made discrete for grid searches."""

from __future__ import annotations

import dataclasses
import os
import time

from search_space import CategoricalParam, FloatParam, SearchSpace

DELAY_VARIABLE = "TUNEBENCH_SPEED_DELAY"  # "measure-name:seconds": slows one measure down (tests of the regression gate)


def injected_delay(measure: str) -> None:
    spec = os.environ.get(DELAY_VARIABLE, "")
    name, _, seconds = spec.partition(":")
    if name and name == measure:
        time.sleep(float(seconds))


def discrete(space: SearchSpace, points: int = 5) -> SearchSpace:
    """The same space with continuous floats replaced by `points` grid values (grid algorithms need that)."""
    import numpy as np

    params = []
    for p in space:
        if isinstance(p, FloatParam) and p.step is None:
            raw = np.geomspace(p.low, p.high, points) if p.log else np.linspace(p.low, p.high, points)
            p = CategoricalParam(name=p.name, choices=[float(f"{v:.6g}") for v in raw], when=p.when)
        params.append(p)
    return dataclasses.replace(space, params=tuple(params))
