"""The tutorial's CNN, built from a plain params dict (never a trial or an hp)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

DEFAULTS: dict[str, Any] = {
    "n_conv_blocks": 2, "conv1_filters": 32, "conv1_kernel": 3, "conv2_filters": 64, "conv2_kernel": 3,
    "conv3_filters": 64, "conv3_kernel": 3, "dropout": 0.25, "dense": 128, "learning_rate": 1e-3, "batch_size": 64,
}


def resolved(params: Mapping[str, Any]) -> dict[str, Any]:
    """Params with defaults filled in for what the space does not tune."""
    return {**DEFAULTS, **params}


def build_cnn(params: Mapping[str, Any], *, input_shape: tuple[int, ...], num_classes: int) -> Any:
    """Conv2D('same' padding, as the tutorial)+MaxPool blocks, Flatten, Dropout, Dense, softmax; Adam."""
    import keras

    p = resolved(params)
    small = min(input_shape[:2]) < 20  # 8x8 digits: pooling pads too, or three blocks would shrink the image to nothing
    padding = "same"
    layers: list[Any] = [keras.Input(shape=input_shape)]
    for block in range(1, int(p["n_conv_blocks"]) + 1):
        layers.append(keras.layers.Conv2D(int(p[f"conv{block}_filters"]), int(p[f"conv{block}_kernel"]), padding=padding, activation="relu"))
        layers.append(keras.layers.MaxPooling2D(2, padding="same" if small else "valid"))
    layers += [
        keras.layers.Flatten(),
        keras.layers.Dropout(float(p["dropout"])),
        keras.layers.Dense(int(p["dense"]), activation="relu"),
        keras.layers.Dense(num_classes, activation="softmax"),
    ]
    model = keras.Sequential(layers)
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=float(p["learning_rate"])),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    return model
