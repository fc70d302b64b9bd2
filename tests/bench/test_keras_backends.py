"""Both tuning backends on Keras's JAX and PyTorch backends, and the execution settings every backend shares."""

from __future__ import annotations

import json
from importlib import metadata

import numpy as np
import pytest

from backends.conformance import check_run_invariants
from tests.helpers import bench, require_package


def _require(package: str) -> None:
    require_package(package, "jax: the test command's extra; torch: its CPU build, which .ci/run installs (see the README)")


@pytest.mark.slow
@pytest.mark.parametrize("keras_backend", ["jax", "torch"])
@pytest.mark.parametrize("backend", ["optuna", "keras-tuner"])
def test_the_default_task_runs_on_another_keras_backend(tmp_path, backend, keras_backend):
    """`bench run --keras-backend jax --backend B --trials 3 --max-epochs 2`, as the issue states it: the CNN on digits."""
    _require(keras_backend)
    result = bench("run", "--keras-backend", keras_backend, "--backend", backend, "--trials", "3", "--max-epochs", "2",
                   "--run-id", "r", "--results-dir", str(tmp_path), "--quiet", timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    run = json.loads((tmp_path / "r" / "run.json").read_text())
    trials = check_run_invariants(run)  # records against Optuna's storage / KerasTuner's oracle, read back
    assert run["keras_backend"] == keras_backend and run["status"] == "complete"
    assert run["library_versions"][keras_backend] == metadata.version(keras_backend)
    assert len(trials) == 3 and all(t["state"] == "complete" and t["epochs_run"] == 2 for t in trials)
    assert run["best_trial"]["test_objective"] > 0.5  # it learned: digits are 10 classes
    # Each trial's first epoch carries the backend's tracing/compilation: recorded, and visible against the second epoch
    # (JAX traces and compiles its train step; Keras's torch backend runs eagerly unless --jit-compile on, so not there).
    for t in trials:
        assert t["startup_seconds"] >= t["build_seconds"] > 0
        if keras_backend == "jax":
            assert t["epoch_seconds"][0] > t["epoch_seconds"][1], t["epoch_seconds"]


def test_steps_per_execution_is_what_keras_runs(tmp_path):
    """The harness's setting changes how Keras steps: with 4 batches per execution, a fit of 12 batches calls the batch
    callbacks 3 times (Keras's own count, read by a callback here)."""
    import keras

    from bench.run.execution import ExecutionSettings

    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, activation="softmax")])
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    effective = ExecutionSettings(steps_per_execution=4, jit_compile="off").apply(model)
    assert effective == {"steps_per_execution": 4, "jit_compile": False}

    class CountBatches(keras.callbacks.Callback):
        calls = 0

        def on_train_batch_end(self, batch, logs=None):
            CountBatches.calls += 1

    x, y = np.zeros((96, 3), "float32"), np.arange(96) % 2
    model.fit(x, y, batch_size=8, epochs=1, verbose=0, callbacks=[CountBatches()])
    assert CountBatches.calls == 12 // 4


@pytest.mark.slow
def test_execution_flags_reach_every_trial_and_the_record(tmp_path):
    result = bench("run", "--task", "mlp-regression", "--trials", "2", "--max-epochs", "2", "--steps-per-execution", "3",
                   "--jit-compile", "off", "--run-id", "x", "--results-dir", str(tmp_path), "--quiet")
    assert result.returncode == 0, result.stderr[-3000:]
    run = json.loads((tmp_path / "x" / "run.json").read_text())
    trials = check_run_invariants(run)
    assert run["config"]["steps_per_execution"] == 3 and run["config"]["jit_compile"] == "off"
    assert [(t["steps_per_execution"], t["jit_compile"]) for t in trials] == [(3, False)] * 2
