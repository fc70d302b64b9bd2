"""Behaviour of the libraries that tunebench relies on where they offer no public API: each pinned by one test named after
it, so an upgrade that changes it fails here by name rather than somewhere downstream."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest


def test_keras_tuner_reload_queues_a_trial_left_running_in_its_retry_queue(tmp_path: Path) -> None:
    """`settle_killed_trials` reads `oracle._retry_queue`: on reload, KerasTuner puts a trial a killed process left
    RUNNING there (to run it again) rather than ending it."""
    import keras_tuner as kt

    class Declared(kt.HyperModel):
        def build(self, hp):
            hp.Int("units", 1, 4)
            return None

    def tuner() -> kt.RandomSearch:
        return kt.RandomSearch(Declared(), objective=kt.Objective("score", "max"), max_trials=10, directory=str(tmp_path),
                               project_name="p", overwrite=False, seed=1)

    first = tuner()
    trial = first.oracle.create_trial(first.tuner_id)
    assert trial.status == "RUNNING"
    first.save()
    first.oracle.save()
    reloaded = tuner()
    assert list(reloaded.oracle._retry_queue) == [trial.trial_id]
    assert reloaded.oracle.trials[trial.trial_id].status == "RUNNING"


def test_optuna_private_compute_hypervolume_is_the_dominated_area(tmp_path: Path) -> None:
    """The report's hypervolume is `optuna._hypervolume.compute_hypervolume` (what Optuna's own plot_hypervolume_history
    uses): for minimised points below a reference, the area they dominate, checked against a sweep."""
    from optuna._hypervolume import compute_hypervolume

    rng = np.random.default_rng(3)
    points = rng.uniform(0.0, 1.0, size=(25, 2))
    reference = np.array([1.2, 1.1])
    order = points[np.argsort(points[:, 0])]
    area, best_y = 0.0, reference[1]
    for k, (x, y) in enumerate(order):
        best_y = min(best_y, y)
        next_x = order[k + 1][0] if k + 1 < len(order) else reference[0]
        area += (next_x - x) * (reference[1] - best_y)
    assert compute_hypervolume(points, reference) == pytest.approx(area, rel=1e-12)
