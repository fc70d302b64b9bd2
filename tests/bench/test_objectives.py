"""--objectives parsing, the Pareto filter and the hypervolume, each against a second, independent computation."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from bench.errors import UsageError
from bench.report.pareto import ReferencePoint, hypervolume, reference_point
from bench.run.objectives import SearchObjective, non_dominated, objectives_text, pareto_trials, parse_objectives


@pytest.mark.parametrize(("text", "parsed"), [
    ("val_accuracy:max,params:min", (("val_accuracy", "max"), ("params", "min"))),
    (" val_loss:min , val_accuracy:max ", (("val_loss", "min"), ("val_accuracy", "max"))),
    ("val_accuracy:max,train_seconds:min,params:min", (("val_accuracy", "max"), ("train_seconds", "min"), ("params", "min"))),
])
def test_objectives_parse(text: str, parsed: tuple) -> None:
    objectives = parse_objectives(text)
    assert tuple((o.name, o.direction) for o in objectives) == parsed
    assert parse_objectives(objectives_text(objectives)) == objectives


@pytest.mark.parametrize(("text", "message"), [
    ("val_accuracy:max", "two or more"),
    ("val_accuracy:max,params", "has no direction"),
    ("accuracy:max,params:min", "'accuracy' is no objective"),
    ("val_accuracy:up,params:min", "the direction is max or min"),
    ("val_accuracy:max,val_accuracy:min", "names val_accuracy twice"),
    ("", "two or more"),
])
def test_bad_objectives_get_one_line(text: str, message: str) -> None:
    with pytest.raises(UsageError, match=message) as caught:
        parse_objectives(text)
    assert "\n" not in str(caught.value)


def _brute_front(points: np.ndarray) -> list[int]:
    """Rows not dominated by any other, by a plain double loop (to be minimised)."""
    keep = []
    for i, p in enumerate(points):
        if not any(all(q <= p) and any(q < p) for j, q in enumerate(points) if j != i):
            keep.append(i)
    return keep


@pytest.mark.parametrize("seed", range(5))
def test_non_dominated_matches_a_double_loop(seed: int) -> None:
    rng = np.random.default_rng(seed)
    points = rng.integers(0, 6, size=(40, 3)).astype(float)  # small integers: ties and duplicates happen
    assert list(np.flatnonzero(non_dominated(points))) == _brute_front(points)


def test_pareto_trials_follow_each_direction() -> None:
    objectives = parse_objectives("val_accuracy:max,params:min")
    trials = [
        {"number": 0, "backend_trial_id": "a", "state": "complete", "objectives": {"val_accuracy": 0.9, "params": 100.0}},
        {"number": 1, "backend_trial_id": "b", "state": "complete", "objectives": {"val_accuracy": 0.8, "params": 50.0}},
        {"number": 2, "backend_trial_id": "c", "state": "complete", "objectives": {"val_accuracy": 0.7, "params": 60.0}},  # dominated by 1
        {"number": 3, "backend_trial_id": "d", "state": "failed", "objectives": None},
        {"number": 4, "backend_trial_id": "e", "state": "complete", "objectives": {"val_accuracy": 0.95, "params": float("nan")}},
    ]
    assert [p["number"] for p in pareto_trials(trials, objectives)] == [0, 1]


def _sweep_2d(points: np.ndarray, ref: np.ndarray) -> float:
    """The area two minimised objectives dominate up to `ref`: a sweep over the points sorted by the first objective."""
    inside = sorted((p for p in points if p[0] < ref[0] and p[1] < ref[1]), key=lambda p: (p[0], p[1]))
    area, best_y = 0.0, ref[1]
    for k, p in enumerate(inside):
        best_y = min(best_y, p[1])
        next_x = inside[k + 1][0] if k + 1 < len(inside) else ref[0]
        area += (next_x - p[0]) * (ref[1] - best_y)
    return area


@pytest.mark.parametrize("seed", range(4))
def test_hypervolume_share_matches_a_sweep(seed: int) -> None:
    rng = np.random.default_rng(seed)
    accuracy = rng.uniform(0.2, 0.99, 25)
    params = rng.uniform(1e3, 2e5, 25)
    objectives = (SearchObjective("val_accuracy", "max"), SearchObjective("params", "min"))
    reference = ReferencePoint(values=(0.1, 2.5e5), ideal=(1.0, 0.0), how="test")
    share = hypervolume(np.column_stack([accuracy, params]), objectives, reference)
    area = _sweep_2d(np.column_stack([-accuracy, params]), np.array([-0.1, 2.5e5]))
    assert share == pytest.approx(area / ((1.0 - 0.1) * 2.5e5), rel=1e-9)
    assert 0 < share < 1


def test_hypervolume_of_three_objectives_matches_monte_carlo() -> None:
    rng = np.random.default_rng(7)
    points = rng.uniform(0, 1, size=(12, 3))
    objectives = tuple(SearchObjective(f"val_m{i}", "min") for i in range(3))
    reference = ReferencePoint(values=(1.0, 1.0, 1.0), ideal=(0.0, 0.0, 0.0), how="test")
    share = hypervolume(points, objectives, reference)
    samples = rng.uniform(0, 1, size=(200_000, 3))
    dominated = np.zeros(len(samples), dtype=bool)
    for p in points:
        dominated |= np.all(samples >= p, axis=1)
    assert share == pytest.approx(dominated.mean(), abs=0.005)


def test_default_reference_lies_beyond_every_worst_value() -> None:
    import pandas as pd

    objectives = parse_objectives("val_accuracy:max,params:min")
    points = pd.DataFrame({"val_accuracy": [0.5, 0.9, 0.7], "params": [10.0, 300.0, 50.0]})
    reference = reference_point(points, objectives)
    assert reference.values == pytest.approx((0.5 - 0.1 * 0.4, 300.0 + 0.1 * 290.0))
    assert reference.ideal == (0.9, 10.0)
    # every point is inside the reference, so each adds volume: removing any one lowers the share
    full = hypervolume(points.to_numpy(), objectives, reference)
    for drop in itertools.combinations(range(3), 2):
        assert hypervolume(points.to_numpy()[list(drop)], objectives, reference) < full
