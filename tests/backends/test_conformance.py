"""The built-in backends run the whole backend contract (`backends/conformance.py`), every algorithm included."""

from __future__ import annotations

import pytest

from backends.conformance import BackendConformance


class TestOptuna(BackendConformance):
    backend = "optuna"
    algorithms = ("tpe", "random", "grid", "cmaes", "qmc", "gp", "nsga2")
    multi_objective_algorithms = ("tpe", "nsga2", "gp", "cmaes")  # cmaes: refused
    algorithm_packages = {"gp": "torch"}
    budget_cases = (("random", "none"), ("tpe", "hyperband"), ("random", "median"))
    failure_algorithm = "grid"  # draws each of the four failing combinations once


class TestKerasTuner(BackendConformance):
    backend = "keras-tuner"
    algorithms = ("random", "bayesian", "grid")  # hyperband's trials run unequal epochs: see budget_cases
    multi_objective_algorithms = ("random", "bayesian")
    budget_cases = (("hyperband", None), ("random", None))
    failure_algorithm = "grid"


class TestRayTune(BackendConformance):
    pytestmark = pytest.mark.slow  # every trial is a new Ray actor that imports TensorFlow: ~8 s here
    backend = "ray-tune"
    algorithms = ("random", "optuna", "hyperopt", "grid")
    multi_objective_algorithms = ("optuna", "random")  # random: refused
    budget_cases = (("random", "none"), ("optuna", "asha"))
    failure_algorithm = "grid"
    time_budget_seconds = 25.0  # Ray's own start (~5 s) and the first actor's (~8 s, TensorFlow imported) come first
