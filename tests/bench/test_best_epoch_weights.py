"""The test score is taken with the best epoch's weights: checked on a task whose test split is its validation split."""

from __future__ import annotations

import numpy as np

from backends.conformance import check_run_invariants
from bench.run import Budget, RunConfig, run_tuning
from bench.task import Objective, Splits, Task


def _build(params):
    import keras

    model = keras.Sequential([keras.Input((64,)), keras.layers.Dense(params["units"], activation="relu"),
                              keras.layers.Dense(10, activation="softmax")])
    # A learning rate high enough that validation accuracy goes up and down between epochs.
    model.compile(optimizer=keras.optimizers.SGD(params["learning_rate"]), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def _splits() -> Splits:
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    x = (x / 16.0).astype("float32")
    train, val = slice(0, 400), slice(400, 700)
    return Splits(x[train], y[train], x[val], y[val], x[val], y[val])  # test == validation: scores must agree


def echo_task() -> Task:
    return Task(name="validation-echo", data=_splits, build=_build, objective=Objective("val_accuracy", "max"),
                params=("units", "learning_rate"), batch_size=200)


def test_test_score_uses_the_best_epoch_weights_whether_that_epoch_is_the_last_or_not(tmp_path):
    space = tmp_path / "space.yaml"
    space.write_text("name: echo\nparameters:\n- {name: units, type: int, low: 4, high: 24}\n"
                     "- {name: learning_rate, type: float, low: 0.5, high: 3.0, log: true}\n")
    run = run_tuning(RunConfig(task="tests.bench.test_best_epoch_weights:echo_task", space=str(space), algorithm="random", seed=3,
                               budget=Budget(trials=8, max_epochs=6), results_dir=str(tmp_path / "results")))
    trials = check_run_invariants(run)
    scored = [t for t in trials if t["test_objective"] is not None]
    assert scored
    for t in scored:  # model.evaluate on the validation data, after training: the best epoch's accuracy again
        assert np.isclose(t["test_objective"], t["objective"], atol=1e-6), t
    assert {t["best_epoch"] < t["epochs_run"] for t in scored} == {True, False}, "both cases (restored copy, last epoch kept) seen"
