"""The `synthetic` task: zero training cost, so tuning overhead can be measured at thousands of trials.

Each epoch's validation score is a deterministic learning curve computed from the params (a seeded hash of them gives
its noise): it rises towards a ceiling set by how close the params are to an optimum, plateaus, then slowly overfits;
a learning rate far above the optimum diverges to NaN. The backends still run their native loops on a real (tiny)
Keras model: the harness clears the session and builds it, and the backends' callbacks see every epoch (KerasTuner's
checkpoint callback writes its file, Optuna's pruners read the scores). The model's only state is the epoch it reached,
returned by `get_weights` and restored by `set_weights`, so the harness's best-epoch restore restores that epoch's score.
Keras's own weight files hold no variables of it: KerasTuner's checkpoints here are small files that restore nothing
(a Hyperband continuation still resumes from its initial epoch, which the curve takes as given).
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from bench.task.base import Objective, Splits, Task, TaskOptions
from bench.task.registry import refuse_options

DEFAULTS: dict[str, Any] = {"learning_rate": 3e-3, "units": 128, "n_layers": 2, "dropout": 0.2, "optimizer": "adam", "batch_size": 64}
BEST_LEARNING_RATE = {"adam": 3e-3, "rmsprop": 1e-3, "sgd": 3e-2}
OPTIMIZER_PENALTY = {"adam": 0.0, "rmsprop": 0.01, "sgd": 0.02}
NOISE = 0.004  # standard deviation of each epoch's score noise
FLOOR = 0.1  # the score of an untrained model (ten balanced classes)


def make_synthetic_task(options: TaskOptions, *, epoch_seconds: float = 0.0, batches_per_epoch: int = 1) -> Task:
    """The zero-cost task; `epoch_seconds` > 0 makes each epoch take that long (split into `batches_per_epoch` batches),
    for tests of time budgets and of faults that must land inside a trial."""
    name = "synthetic" if epoch_seconds == 0 else f"synthetic-{epoch_seconds:g}s-epochs"
    refuse_options(name, options)
    x = np.zeros((8, 1), dtype="float32")
    y = np.zeros((8,), dtype="float32")
    return Task(
        name=name,
        version="1",
        description="zero-cost learning curves computed from the params: a ceiling set by the distance to an optimum "
                    f"(learning rate per optimizer {BEST_LEARNING_RATE}, dropout 0.2, 2 layers, 128 units), a rate, "
                    f"a plateau, slow overfitting, seeded noise (sd {NOISE}); learning rates 30x above the optimum diverge to NaN "
                    "(1000x: in the first epoch); units < 1 fail to build" + (f"; each epoch takes {epoch_seconds:g} s" if epoch_seconds else ""),
        data=Splits(x, y, x, y, x, y, name="none", source="no data: the score is computed from the params"),
        build=build_tiny_model,
        objective=Objective("val_score", "max"),
        params=tuple(DEFAULTS),
        space="synthetic",
        batch_size=int(DEFAULTS["batch_size"]),
        train=functools.partial(simulate_training, epoch_seconds=epoch_seconds, batches_per_epoch=batches_per_epoch),
        test_score=held_out_score,
    )


@dataclass(frozen=True)
class Curve:
    """One configuration's learning curve."""

    params_key: str
    ceiling: float
    rate: float
    peak_epoch: int
    diverges_at: int | None  # the 0-based epoch whose loss becomes NaN

    @classmethod
    def of(cls, params: Mapping[str, Any]) -> Curve:
        p = {**DEFAULTS, **params}
        if int(p["units"]) < 1:
            raise ValueError(f"Received an invalid value for `units`, expected a positive integer. Received: units={p['units']}")
        optimizer = str(p["optimizer"]) if str(p["optimizer"]) in BEST_LEARNING_RATE else "adam"
        distance = math.log10(float(p["learning_rate"]) / BEST_LEARNING_RATE[optimizer])
        ceiling = (0.97 - 0.06 * distance**2 - 0.5 * (float(p["dropout"]) - 0.2) ** 2 - 0.02 * abs(int(p["n_layers"]) - 2)
                   - 0.01 * math.log2(max(int(p["units"]), 1) / 128) ** 2 - OPTIMIZER_PENALTY[optimizer])
        batch_speed = {32: 1.2, 64: 1.0, 128: 0.8}.get(int(p["batch_size"]), 1.0)
        # Floats rounded, so a value one backend spells 0.30000000000000004 and another 0.3 gets the same noise.
        key = json.dumps({k: float(f"{v:.10g}") if isinstance(v, float) else v for k, v in p.items()}, sort_keys=True, default=str)
        diverges = None
        if distance > math.log10(1000):
            diverges = 0
        elif distance > math.log10(30):
            diverges = 1 + int(_uniform(key, "diverge") * 3)
        return cls(key, min(max(ceiling, FLOOR + 0.05), 0.99), (0.15 + 0.6 * math.exp(-(distance**2))) * batch_speed,
                   peak_epoch=4 + int(16 * float(p["dropout"])), diverges_at=diverges)

    def score(self, epoch: int, split: str = "val") -> float:
        """The score after `epoch` (0-based) epochs of training."""
        value = FLOOR + (self.ceiling - FLOOR) * (1.0 - math.exp(-self.rate * (epoch + 1)))
        value -= 0.003 * max(0, epoch - self.peak_epoch)  # overfitting after the plateau
        noise = NOISE * _normal(self.params_key, f"{split}:{epoch}")
        return float(min(max(value + noise + (-0.01 if split == "test" else 0.0), 0.0), 1.0))

    def logs(self, epoch: int) -> dict[str, float]:
        if self.diverges_at is not None and epoch >= self.diverges_at:
            return {"loss": math.nan, "val_loss": math.nan, "val_score": math.nan}
        score = self.score(epoch)
        return {"loss": -math.log(max(score, 1e-6)) * 0.95, "val_loss": -math.log(max(score, 1e-6)), "val_score": score}


def _digest(key: str, salt: str) -> bytes:
    return hashlib.blake2b(f"{key}|{salt}".encode(), digest_size=16).digest()


def _uniform(key: str, salt: str) -> float:
    return int.from_bytes(_digest(key, salt)[:8], "big") / 2**64


def _normal(key: str, salt: str) -> float:
    digest = _digest(key, salt)
    u1 = (int.from_bytes(digest[:8], "big") + 1) / (2**64 + 1)
    u2 = int.from_bytes(digest[8:], "big") / 2**64
    return math.sqrt(-2.0 * math.log(u1)) * math.cos(2.0 * math.pi * u2)  # Box-Muller


@functools.cache
def _curve_model_class() -> type:
    import keras

    class CurveModel(keras.Model):
        """A weightless Keras model whose only state is the epoch its training reached: `get_weights` returns it and
        `set_weights` restores it, so the harness's best-epoch restore (and KerasTuner's checkpoints) work as with any model."""

        def __init__(self, curve: Curve) -> None:
            super().__init__(name="synthetic_curve")
            self.curve = curve
            self.epoch = -1

        def call(self, inputs: Any) -> Any:
            return inputs

        def get_config(self) -> dict[str, Any]:
            """Its curve and epoch, so that `model.save` (Ray's Keras checkpoints) saves it as it does any model."""
            return {"curve": dataclasses.asdict(self.curve), "epoch": self.epoch}

        @classmethod
        def from_config(cls, config: dict[str, Any]) -> Any:
            model = cls(Curve(**config["curve"]))
            model.epoch = int(config["epoch"])
            return model

        def get_weights(self) -> list[np.ndarray]:
            return [np.array([self.epoch], dtype="int64")]

        def set_weights(self, weights: Sequence[Any]) -> None:
            self.epoch = int(np.asarray(weights[0]).reshape(-1)[0])

        def count_params(self) -> int:
            """The parameter count of the MLP the curve stands for (64 inputs, `n_layers` dense layers of `units`, 10
            classes), so that `--objectives ...,params:min` has a trade-off to search here too."""
            return simulated_param_count(json.loads(self.curve.params_key))

    return CurveModel


def simulated_param_count(params: Mapping[str, Any]) -> int:
    p = {**DEFAULTS, **params}
    units, layers = max(int(p["units"]), 1), max(int(p["n_layers"]), 1)
    return (64 + 1) * units + (layers - 1) * (units + 1) * units + (units + 1) * 10


def build_tiny_model(params: Mapping[str, Any]) -> Any:
    """The configuration's curve in a weightless Keras model (built and compiled, as any task's model is)."""
    model = _curve_model_class()(Curve.of(params))
    model.build((None, 1))
    model.compile(optimizer="sgd", loss="mse")
    return model


def simulate_training(model: Any, splits: Splits, *, epochs: int, initial_epoch: int, batch_size: int,
                      callbacks: Sequence[Any], epoch_seconds: float = 0.0, batches_per_epoch: int = 1) -> None:
    """What `model.fit` does to its callbacks, without the arithmetic: every epoch's hooks run with the curve's logs."""
    import keras

    curve: Curve = model.curve
    hooks = keras.callbacks.CallbackList(list(callbacks), add_history=False, add_progbar=False, model=model, epochs=epochs,
                                         steps=batches_per_epoch, verbose=0)
    model.stop_training = False
    hooks.on_train_begin()
    for epoch in range(initial_epoch, epochs):
        hooks.on_epoch_begin(epoch)
        logs = curve.logs(epoch)
        for batch in range(batches_per_epoch):
            hooks.on_train_batch_begin(batch)
            if epoch_seconds:
                time.sleep(epoch_seconds / batches_per_epoch)
            hooks.on_train_batch_end(batch, {"loss": logs["loss"]})
            if model.stop_training:
                break
        model.epoch = epoch
        hooks.on_epoch_end(epoch, logs)
        if model.stop_training:
            break
    hooks.on_train_end()


def held_out_score(model: Any, splits: Splits) -> float:
    """The curve's test score at the epoch the model's (restored, best-epoch) weights come from."""
    return model.curve.score(model.epoch, split="test")
