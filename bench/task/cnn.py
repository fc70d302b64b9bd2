"""The `cnn` task (the default): the tutorial's CNN on an image dataset, scored by validation accuracy."""

from __future__ import annotations

import functools
from typing import Any

from bench.task.base import Objective, Splits, Task, TaskOptions
from bench.task.cnn_model import DEFAULTS, build_cnn


def make_cnn_task(options: TaskOptions) -> Task:
    """Load the dataset the flags name (digits by default) and return the task that trains the CNN on it."""
    from bench.task.datasets import load_dataset

    splits = load_dataset(options.dataset or "digits", data_dir=options.data_dir, train_subset=options.train_subset)
    return Task(
        name="cnn",
        version="1",
        description="the tutorial's CNN (Conv2D+MaxPool blocks, Dropout, Dense, softmax; Adam) on an image dataset",
        data=splits,
        build=functools.partial(build_cnn, input_shape=splits.input_shape, num_classes=int(splits.facts["num_classes"])),
        objective=Objective("val_accuracy", "max"),
        params=tuple(DEFAULTS),
        space="small_cnn",
        batch_size=int(DEFAULTS["batch_size"]),
        test_score=held_out_accuracy,
    )


def held_out_accuracy(model: Any, splits: Splits, batch_size: int = 1024) -> float:
    """Held-out test accuracy of the model's current weights (for reports, never for tuning).

    Eager forward passes: `model.evaluate` would trace a new function for every trial's model.
    """
    import keras

    correct = 0
    for start in range(0, len(splits.y_test), batch_size):
        probs = keras.ops.convert_to_numpy(model(splits.x_test[start : start + batch_size], training=False))  # torch: detached
        correct += int((probs.argmax(axis=1) == splits.y_test[start : start + batch_size]).sum())
    return correct / len(splits.y_test)
