"""KerasTuner's own measures in the speed suite (Backend.speed_measures): its oracle loop per trial with a zero-cost
trial for every tuner, a full `search` with a trivial model (checkpoints included), and the tutorial's hand-driven
search for the harness ratio."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from backends.base import SpeedMeasure
from backends.keras_tuner_oracle import tuner_class
from bench.speed.probes import discrete, injected_delay
from search_space import resolve_space

ALGORITHMS = ("random", "bayesian", "hyperband", "grid")


class _Enough(Exception):
    """Ends a KerasTuner search from `pre_create_trial`, its hook before each new trial."""


def _search_until(tuner: Any, enough: Any, *args: Any, **kwargs: Any) -> None:
    """`tuner.search(*args, **kwargs)` until `enough()` holds before a new trial would be created."""
    original = tuner.pre_create_trial

    def pre_create_trial() -> None:
        if enough():
            raise _Enough
        original()

    tuner.pre_create_trial = pre_create_trial
    try:
        tuner.search(*args, **kwargs)
    except _Enough:
        pass


def keras_tuner_oracle_zero_cost(algorithm: str, n_trials: int, work_dir: Path, space_name: str = "seed_cnn") -> int:
    """KerasTuner's own search loop (oracle, trial files) for n trials whose 'training' costs nothing. Returns trials run."""
    import keras_tuner as kt

    from backends.keras_tuner_space import declare

    space = discrete(resolve_space(space_name)) if algorithm == "grid" else resolve_space(space_name)
    count = [0]

    class DeclareOnly(kt.HyperModel):
        def build(self, hp: Any) -> None:
            declare(hp, space)

    class ZeroCost(tuner_class(algorithm)):  # type: ignore[misc]
        def run_trial(self, trial: Any, *args: Any, **kwargs: Any) -> dict:
            declare(trial.hyperparameters, space)
            count[0] += 1
            return {"score": float(count[0] % 7)}

    options: dict[str, Any] = {"hypermodel": DeclareOnly(), "objective": kt.Objective("score", "max"), "seed": 0,
                               "directory": str(work_dir), "project_name": f"{algorithm}-{n_trials}-{time.monotonic_ns()}",
                               "overwrite": True}
    if algorithm == "hyperband":
        options.update(max_epochs=27, factor=3, hyperband_iterations=max(1, n_trials // 30 + 1))
    else:
        options.update(max_trials=n_trials)
    _search_until(ZeroCost(**options), lambda: count[0] >= n_trials, verbose=0)
    injected_delay(f"keras-tuner-{algorithm}")
    return count[0]


def keras_tuner_search_trivial(algorithm: str, n_trials: int, work_dir: Path) -> int:
    """A full KerasTuner `search` with a trivial model (one Dense layer, one epoch on 64 samples): checkpoints included.

    Its space has 192 configurations, so random, grid and Hyperband find 50 distinct trials (the full suite's count).
    """
    import keras
    import numpy as np

    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(64, 8)).astype("float32"), rng.integers(0, 2, 64)

    def build(hp: Any) -> Any:
        model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(hp.Int("units", 4, 67), activation="relu"),
                                  keras.layers.Dense(2, activation="softmax")])
        model.compile(optimizer=keras.optimizers.Adam(hp.Choice("lr", [1e-3, 3e-3, 1e-2])), loss="sparse_categorical_crossentropy",
                      metrics=["accuracy"])
        return model

    options: dict[str, Any] = {"hypermodel": build, "objective": "val_accuracy", "seed": 0, "directory": str(work_dir),
                               "project_name": f"search-{algorithm}-{time.monotonic_ns()}", "overwrite": True}
    if algorithm == "hyperband":
        options.update(max_epochs=3, factor=3, hyperband_iterations=n_trials)
    else:
        options.update(max_trials=n_trials)
    tuner = tuner_class(algorithm)(**options)
    _search_until(tuner, lambda: len(tuner.oracle.trials) >= n_trials, x, y, epochs=1, validation_data=(x, y), verbose=0, batch_size=64)
    injected_delay(f"keras-tuner-search-{algorithm}")
    return len(tuner.oracle.trials)


def hand_driven_keras_tuner(space_name: str, n_trials: int, epochs: int, seed: int, train_subset: int | None, work_dir: Path) -> float:
    """The tutorial's KerasTuner way: a HyperModel whose build declares the space and builds the model, RandomSearch,
    `tuner.search` with the validation split. Returns the seconds spent inside `model.fit`."""
    import keras_tuner as kt

    from backends.keras_tuner_space import declare
    from bench.task.cnn_model import build_cnn
    from bench.task.datasets import load_dataset

    data = load_dataset("digits", train_subset=train_subset)
    space = resolve_space(space_name)
    fit_seconds: list[float] = []

    class CNN(kt.HyperModel):
        def build(self, hp: Any) -> Any:
            return build_cnn(declare(hp, space), input_shape=data.input_shape, num_classes=data.facts["num_classes"])

        def fit(self, hp: Any, model: Any, *args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return model.fit(*args, batch_size=hp.values.get("batch_size", 64), **kwargs)
            finally:
                fit_seconds.append(time.perf_counter() - started)

    tuner = kt.RandomSearch(CNN(), objective="val_accuracy", max_trials=n_trials, seed=seed + 1, directory=str(work_dir),
                            project_name=f"hand-{time.monotonic_ns()}", overwrite=True)
    tuner.search(data.x_train, data.y_train, validation_data=(data.x_val, data.y_val), epochs=epochs, verbose=0)
    return sum(fit_seconds)


def measures(quick: bool) -> list[SpeedMeasure]:
    counts = [100] if quick else [100, 500]
    search_trials = 3 if quick else 50
    found = [SpeedMeasure(f"oracle_overhead_per_trial-{algorithm}-{n}", _oracle(algorithm, n), trials=n,
                          rounds=1 if quick or n >= 500 else 3)  # 500 trials of the Bayesian oracle alone take minutes on a CPU
             for algorithm in ALGORITHMS for n in counts]
    found += [SpeedMeasure(f"search_per_trial_with_trivial_model-{algorithm}", _search(algorithm, search_trials), trials=search_trials)
              for algorithm in ALGORITHMS]
    return found


def _oracle(algorithm: str, n_trials: int) -> Any:
    def run(work_dir: Path, resources: dict[str, Any]) -> None:
        done = keras_tuner_oracle_zero_cost(algorithm, n_trials, work_dir)
        if done != n_trials:
            raise RuntimeError(f"the {algorithm} oracle ran {done} trials of {n_trials}")
    return run


def _search(algorithm: str, n_trials: int) -> Any:
    def run(work_dir: Path, resources: dict[str, Any]) -> None:
        done = keras_tuner_search_trivial(algorithm, n_trials, work_dir)
        if done < n_trials - 1:
            raise RuntimeError(f"the {algorithm} search ran {done} trials of {n_trials}")
    return run
