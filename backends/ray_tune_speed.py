"""Ray Tune's own measures in the speed suite (Backend.speed_measures): its loop per trial with a zero-cost trainable for
its searches (what Ray's own tracker asks about: ray #11004, #7608), and the search its Keras users write, driven by hand,
for the harness ratio."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from backends.base import SpeedMeasure
from search_space import resolve_space

SEARCHES = ("random", "optuna")


def _start_ray() -> None:
    import os

    from backends.ray_tune_local import RAY_ENVIRONMENT

    os.environ.update(RAY_ENVIRONMENT)
    import ray

    ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False, configure_logging=False)


def _search_alg(search: str, seed: int, space_name: str) -> Any:
    if search == "random":
        from ray.tune.search.basic_variant import BasicVariantGenerator

        return BasicVariantGenerator(random_state=seed)
    from ray.tune.search.optuna import OptunaSearch

    from backends.optuna_samplers import make_sampler
    from backends.ray_tune_space import DefineByRun

    space = resolve_space(space_name)
    return OptunaSearch(space=DefineByRun(space), metric="score", mode="max", sampler=make_sampler("tpe", space, seed))


def zero_cost_trainable(config: dict[str, Any]) -> None:
    """A trial that trains nothing: one report, as a one-epoch trial makes."""
    from ray import tune

    tune.report({"score": float(len(config)) * 0.0 + 0.5})


def ray_zero_cost(search: str, n_trials: int, work_dir: Path, space_name: str = "seed_cnn") -> float:
    """Seconds per trial of Ray Tune's own loop (`Tuner.fit`, each trial a new actor as Ray's default is, one at a time on
    a Ray of one CPU), the trainable costing nothing; Ray's start is left out."""
    import ray
    from ray import tune

    from backends import ray_tune_space

    _start_ray()
    try:
        space = resolve_space(space_name)
        tuner = tune.Tuner(
            zero_cost_trainable,
            param_space=None if search == "optuna" else ray_tune_space.param_space(space, search),
            tune_config=tune.TuneConfig(metric="score", mode="max", num_samples=n_trials, search_alg=_search_alg(search, 0, space_name)),
            run_config=tune.RunConfig(name=f"speed-{search}-{time.monotonic_ns()}", storage_path=str(work_dir.absolute()), verbose=0),
        )
        started = time.perf_counter()
        grid = tuner.fit()
        seconds = time.perf_counter() - started
        if len(grid) != n_trials or grid.num_errors:
            raise RuntimeError(f"ray-tune {search}: {len(grid)} trials, {grid.num_errors} errors, of {n_trials}")
        return seconds / n_trials
    finally:
        ray.shutdown()


def hand_driven_ray(space_name: str, n_trials: int, epochs: int, seed: int, work_dir: Path) -> float:
    """The way Ray's Keras examples tune a model: a function trainable that builds the model from its config and fits it
    with Ray's `TuneReportCheckpointCallback` (every Keras metric and a checkpoint each epoch), `tune.Tuner` with Ray's
    random search, seeded. Returns the seconds inside `model.fit`, which each trial measures in its actor."""
    import ray
    from ray import tune
    from ray.tune.search.basic_variant import BasicVariantGenerator

    from backends import ray_tune_space

    work_dir = work_dir.absolute()
    fits = work_dir / "fit_seconds"
    fits.mkdir(parents=True, exist_ok=True)

    def trainable(config: dict[str, Any]) -> None:
        import keras
        from ray.tune.integration.keras import TuneReportCheckpointCallback

        from bench.task.cnn_model import build_cnn
        from bench.task.datasets import load_dataset

        data = load_dataset("digits")
        keras.utils.set_random_seed(seed)
        model = build_cnn(config, input_shape=data.input_shape, num_classes=data.facts["num_classes"])
        started = time.perf_counter()
        model.fit(data.x_train, data.y_train, validation_data=(data.x_val, data.y_val), epochs=epochs,
                  batch_size=config.get("batch_size", 64), verbose=0, callbacks=[TuneReportCheckpointCallback(metrics=["val_accuracy"])])
        (fits / f"{tune.get_context().get_trial_id()}.json").write_text(json.dumps(time.perf_counter() - started))

    _start_ray()
    try:
        tuner = tune.Tuner(
            trainable,
            param_space=ray_tune_space.param_space(resolve_space(space_name), "random"),
            tune_config=tune.TuneConfig(metric="val_accuracy", mode="max", num_samples=n_trials,
                                        search_alg=BasicVariantGenerator(random_state=seed)),
            run_config=tune.RunConfig(name=f"hand-{time.monotonic_ns()}", storage_path=str(work_dir), verbose=0),
        )
        tuner.fit()
    finally:
        ray.shutdown()
    return sum(json.loads(p.read_text()) for p in fits.glob("*.json"))


def measures(quick: bool) -> list[SpeedMeasure]:
    counts = [20] if quick else [20, 100]
    return [SpeedMeasure(f"overhead_per_trial-{search}-{n}", _zero_cost(search, n), trials=n, seconds_per_trial=True)
            for search in SEARCHES for n in counts]


def _zero_cost(search: str, n_trials: int) -> Any:
    return lambda work_dir, resources: ray_zero_cost(search, n_trials, work_dir)
