"""The `mlp-classification` task: the README's breast-cancer MLP, on scikit-learn's bundled tabular data sets.

`--dataset breast_cancer` (the default) is the README's example exactly: 569 tumours, 30 features, one sigmoid output,
validation AUC maximised. `--dataset wine` is 178 wines of 3 cultivars, 13 features, softmax, validation cross-entropy
minimised (its 29 validation wines make accuracy a coarse objective that ties at 1.0).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bench.errors import UsageError, excerpt
from bench.task.base import Objective, Splits, Task, TaskOptions
from bench.task.registry import refuse_options

PARAMS = ("units", "dropout", "learning_rate", "batch_size")


@dataclass(frozen=True)
class TabularData:
    loader: str  # the sklearn.datasets function
    objective: Objective
    summary: str


DATASETS: dict[str, TabularData] = {
    "breast_cancer": TabularData("load_breast_cancer", Objective("val_auc", "max"),
                                 "569 tumours x 30 features, malignant or benign; validation AUC, maximised"),
    "wine": TabularData("load_wine", Objective("val_loss", "min"),
                        "178 wines x 13 features, 3 cultivars; validation cross-entropy, minimised"),
}


def make_mlp_classification_task(options: TaskOptions) -> Task:
    refuse_options("mlp-classification", options, allowed=("dataset", "train_subset"))
    name = options.dataset or "breast_cancer"
    if name not in DATASETS:
        raise UsageError(f"--dataset {excerpt(name)}: task mlp-classification knows {', '.join(DATASETS)}")
    data = DATASETS[name]
    return Task(
        name="mlp-classification",
        version="1",
        description=f"one Dense hidden layer, Dropout and a classifier head on scikit-learn's {name} data ({data.summary}); "
                    "inputs standardised with the training split's statistics",
        data=functools.partial(load_tabular_splits, name),
        build=functools.partial(build_classifier, binary=name == "breast_cancer"),
        objective=data.objective,
        params=PARAMS,
        space="mlp_classification",
        batch_size=32,
    )


def load_tabular_splits(name: str, split_seed: int = 0) -> Splits:
    """A fixed stratified 20% test split, then 20% of the rest for validation (seed 0, never the run seed); standardised."""
    import sklearn.datasets
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler

    x, y = getattr(sklearn.datasets, DATASETS[name].loader)(return_X_y=True)
    x_rest, x_test, y_rest, y_test = train_test_split(x, y, test_size=0.2, stratify=y, random_state=split_seed)
    x_train, x_val, y_train, y_val = train_test_split(x_rest, y_rest, test_size=0.2, stratify=y_rest, random_state=split_seed)
    scale = StandardScaler().fit(x_train)
    x_train, x_val, x_test = (scale.transform(a).astype("float32") for a in (x_train, x_val, x_test))
    return Splits(x_train, y_train, x_val, y_val, x_test, y_test, name=name,
                  source=f"sklearn.datasets.{DATASETS[name].loader} ({len(y)} x {x.shape[1]}), fixed stratified 20% test "
                         "and 20% validation splits",
                  facts={"split_seed": split_seed, "num_classes": int(y.max()) + 1})


def build_classifier(params: Mapping[str, Any], *, binary: bool) -> Any:
    """The README's model: Dense(units, relu), Dropout, then sigmoid (binary, AUC) or softmax (several classes)."""
    import keras

    layers: list[Any] = [keras.Input(shape=(30,) if binary else (13,)),
                         keras.layers.Dense(int(params["units"]), activation="relu"),
                         keras.layers.Dropout(float(params["dropout"]))]
    if binary:
        layers.append(keras.layers.Dense(1, activation="sigmoid"))
        loss, metrics = "binary_crossentropy", [keras.metrics.AUC(name="auc")]
    else:
        layers.append(keras.layers.Dense(3, activation="softmax"))
        loss, metrics = "sparse_categorical_crossentropy", [keras.metrics.SparseCategoricalAccuracy(name="accuracy")]
    model = keras.Sequential(layers)
    model.compile(optimizer=keras.optimizers.Adam(float(params["learning_rate"])), loss=loss, metrics=metrics)
    return model
