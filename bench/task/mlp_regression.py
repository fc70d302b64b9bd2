"""The `mlp-regression` task: an MLP on scikit-learn's bundled diabetes data, minimising validation MSE."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from bench.task.base import Objective, Splits, Task, TaskOptions
from bench.task.registry import refuse_options

DEFAULTS: dict[str, Any] = {"n_layers": 2, "units": 32, "activation": "relu", "dropout": 0.0, "learning_rate": 1e-2, "batch_size": 32}


def make_mlp_regression_task(options: TaskOptions) -> Task:
    refuse_options("mlp-regression", options, allowed=("train_subset",))
    return Task(
        name="mlp-regression",
        version="1",
        description="Dense layers on scikit-learn's diabetes data (442 patients, 10 features; inputs and target "
                    "standardised with the training split's statistics); validation mean squared error, lower is better",
        data=load_diabetes_splits,
        build=build_mlp,
        objective=Objective("val_mse", "min"),
        params=tuple(DEFAULTS),
        space="mlp_regression",
        batch_size=int(DEFAULTS["batch_size"]),
        test_score=held_out_mse,
    )


def load_diabetes_splits(split_seed: int = 0) -> Splits:
    """A fixed 20% test split, then 20% of the rest for validation (seed 0, never the run seed); standardised."""
    from sklearn.datasets import load_diabetes
    from sklearn.model_selection import train_test_split

    x, y = load_diabetes(return_X_y=True, scaled=False)
    x_rest, x_test, y_rest, y_test = train_test_split(x, y, test_size=0.2, random_state=split_seed)
    x_train, x_val, y_train, y_val = train_test_split(x_rest, y_rest, test_size=0.2, random_state=split_seed)
    x_mean, x_std = x_train.mean(axis=0), x_train.std(axis=0)
    y_mean, y_std = y_train.mean(), y_train.std()

    def inputs(a: np.ndarray) -> np.ndarray:
        return ((a - x_mean) / x_std).astype("float32")

    def target(a: np.ndarray) -> np.ndarray:
        return ((a - y_mean) / y_std).astype("float32")

    return Splits(inputs(x_train), target(y_train), inputs(x_val), target(y_val), inputs(x_test), target(y_test),
                  name="diabetes", source="sklearn.datasets.load_diabetes (442 x 10), fixed 20% test and 20% validation splits",
                  facts={"split_seed": split_seed, "target": "disease progression, standardised (MSE 1.0 = predicting the mean)"})


def build_mlp(params: Mapping[str, Any]) -> Any:
    import keras

    p = {**DEFAULTS, **params}
    layers: list[Any] = [keras.Input(shape=(10,))]
    for _ in range(int(p["n_layers"])):
        layers.append(keras.layers.Dense(int(p["units"]), activation=str(p["activation"])))
        if float(p["dropout"]) > 0:
            layers.append(keras.layers.Dropout(float(p["dropout"])))
    layers.append(keras.layers.Dense(1))
    model = keras.Sequential(layers)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=float(p["learning_rate"])), loss="mse",
                  metrics=[keras.metrics.MeanSquaredError(name="mse")])
    return model


def held_out_mse(model: Any, splits: Splits) -> float:
    """Mean squared error on the test split (one eager forward pass: no traced evaluate per trial)."""
    import keras

    predictions = keras.ops.convert_to_numpy(model(splits.x_test, training=False)).reshape(-1)  # torch: detached
    return float(np.mean((predictions - splits.y_test) ** 2))
