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


def test_ray_tune_installs_its_sigint_handler_before_the_callbacks_set_up() -> None:
    """The ray-tune stopper wraps Ray's own Ctrl-C handler from `Callback.setup`: `tune.run` must install that handler
    (`_setup_signal_catching`) before it builds the controller that sets the callbacks up."""
    import inspect

    pytest.importorskip("ray")
    from ray.tune import tune as tune_module

    source = inspect.getsource(tune_module.run)
    assert 0 < source.index("_setup_signal_catching()") < source.index("TuneController(")


def test_ray_tune_ends_a_stopped_function_trial_with_system_exit_in_its_report() -> None:
    """A trial Ray's scheduler stops gets `SystemExit(0)` inside its `tune.report` call (ray_tune_trial.report_callback
    turns it into a pruned trial), and Ray's runner thread treats code 0 as a clean end."""
    import inspect

    pytest.importorskip("ray")
    from ray.air._internal.util import RunnerThread
    from ray.train._internal.session import _TrainSession

    report = inspect.getsource(_TrainSession._report_training_result)
    assert "self.stop_event.is_set()" in report and "sys.exit(0)" in report
    assert "except SystemExit" in inspect.getsource(RunnerThread.run)


def test_ray_tune_function_trainable_cleanup_does_not_wait_for_the_trial_thread() -> None:
    """Why the ray-tune trainable waits in its own `cleanup` until its trial is recorded: Ray's finishes the session with
    `timeout=0`, and then tears the actor down."""
    import inspect

    pytest.importorskip("ray")
    from ray.tune.trainable.function_trainable import FunctionTrainable, wrap_function

    assert "finish(timeout=0)" in inspect.getsource(FunctionTrainable.cleanup)
    assert issubclass(wrap_function(lambda config: None), FunctionTrainable)
