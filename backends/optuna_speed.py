"""Optuna's own measures in the speed suite (Backend.speed_measures): its loop per trial with a zero-cost objective for
every sampler, its storages at 1, 2 and 4 processes, and the tutorial's hand-driven search for the harness ratio."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from backends.base import SpeedMeasure
from bench.speed.probes import discrete, injected_delay
from search_space import resolve_space

ALGORITHMS = ("tpe", "random", "grid", "cmaes", "qmc")


def optuna_zero_cost(algorithm: str, n_trials: int, storage_dir: Path, space_name: str = "seed_cnn") -> None:
    """Optuna's own work for n trials (sampling + journal storage, as `bench run` configures it); objective costs nothing."""
    import optuna

    from backends.optuna_samplers import make_sampler
    from backends.optuna_space import suggest
    from backends.optuna_storage import journal_storage

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    space = discrete(resolve_space(space_name)) if algorithm == "grid" else resolve_space(space_name)
    storage_dir.mkdir(parents=True, exist_ok=True)
    study = optuna.create_study(storage=journal_storage(storage_dir / f"{algorithm}-{n_trials}-{time.monotonic_ns()}.log"),
                                sampler=make_sampler(algorithm, space, 0), direction="maximize")
    study.optimize(lambda trial: float(len(suggest(trial, space))) * 0.0 + trial.number % 7, n_trials=n_trials)
    injected_delay(f"optuna-{algorithm}")


STORAGE_KINDS = ("inmemory", "journal", "postgresql")


def _storage_worker(url_or_path: str, study_name: str, n_trials: int, seed: int) -> None:
    """One process of `optuna_storage_zero_cost`: random search on the shared study, zero-cost objective."""
    import optuna

    from backends.optuna_storage import journal_storage, rdb_storage

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    storage = rdb_storage(url_or_path) if "://" in url_or_path else journal_storage(Path(url_or_path))
    study = optuna.load_study(study_name=study_name, storage=storage, sampler=optuna.samplers.RandomSampler(seed=seed))
    space = resolve_space("seed_cnn")
    from backends.optuna_space import suggest

    study.optimize(lambda trial: float(len(suggest(trial, space))) * 0.0 + trial.number % 7, n_trials=n_trials)


def optuna_storage_zero_cost(kind: str, workers: int, n_trials: int, work_dir: Path, url: str | None = None) -> float:
    """Seconds per trial of Optuna's own loop with `workers` processes on one study (threads for the in-memory storage,
    which processes cannot share): random sampling of the seed CNN's space, zero-cost objective; `n_trials` in all.
    PostgreSQL's storage is the one `--storage` uses (heartbeat on). Process start-up is excluded: the clock starts when
    every worker has loaded the study."""
    import multiprocessing

    import optuna

    from backends.optuna_storage import journal_storage, rdb_storage

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    name = f"speed-{kind}-{workers}-{time.monotonic_ns()}"
    if kind == "inmemory":
        study = optuna.create_study(study_name=name, sampler=optuna.samplers.RandomSampler(seed=0))
        space = resolve_space("seed_cnn")
        from backends.optuna_space import suggest

        started = time.perf_counter()
        study.optimize(lambda trial: float(len(suggest(trial, space))) * 0.0 + trial.number % 7, n_trials=n_trials, n_jobs=workers)
        return (time.perf_counter() - started) / n_trials
    work_dir.mkdir(parents=True, exist_ok=True)
    target = url if kind == "postgresql" else str(work_dir / f"{name}.log")
    if target is None:
        raise ValueError("the postgresql storage needs a database URL")
    storage = rdb_storage(target) if kind == "postgresql" else journal_storage(Path(target))
    optuna.create_study(study_name=name, storage=storage)
    context = multiprocessing.get_context("spawn")
    shares = [n_trials // workers + (1 if i < n_trials % workers else 0) for i in range(workers)]
    processes = [context.Process(target=_storage_worker, args=(target, name, share, i)) for i, share in enumerate(shares)]
    for process in processes:
        process.start()
    for process in processes:  # spawned interpreters import optuna first: timed from the study's first trial to its last
        process.join()
    study = optuna.load_study(study_name=name, storage=storage)
    times = sorted(t.datetime_start for t in study.trials)
    ends = sorted(t.datetime_complete for t in study.trials)
    if len(study.trials) != n_trials or any(p.exitcode != 0 for p in processes):
        raise RuntimeError(f"{kind} x{workers}: {len(study.trials)} trials stored of {n_trials}")
    return (ends[-1] - times[0]).total_seconds() / n_trials


def hand_driven_optuna(space_name: str, n_trials: int, epochs: int, seed: int, train_subset: int | None = None,
                       work_dir: Path | None = None) -> float:
    """The tutorial's way: an objective that builds, fits and returns the best validation accuracy; study.optimize.

    With `work_dir`, the study is stored as `bench run` stores it (Optuna's journal file there), so that a comparison with
    `bench run` charges Optuna's storage to Optuna on both sides, as KerasTuner's oracle files are (the report bills
    storage to the backend too); without it, the tutorial's in-memory study.
    Returns the seconds spent inside `model.fit` (so that training noise can be told from harness overhead).
    """
    import keras
    import optuna

    from backends.optuna_space import suggest
    from bench.task.cnn_model import build_cnn
    from bench.task.datasets import load_dataset

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    data = load_dataset("digits", train_subset=train_subset)
    space = resolve_space(space_name)

    def objective(trial: optuna.Trial) -> float:
        keras.utils.set_random_seed(seed * 100_003 + trial.number)
        params = suggest(trial, space)
        keras.backend.clear_session(free_memory=False)  # the tutorial clears the session before each build
        model = build_cnn(params, input_shape=data.input_shape, num_classes=data.facts["num_classes"])
        started = time.perf_counter()
        history = model.fit(data.x_train, data.y_train, validation_data=(data.x_val, data.y_val), epochs=epochs,
                            batch_size=params.get("batch_size", 64), verbose=0)
        fit_seconds.append(time.perf_counter() - started)
        return max(history.history["val_accuracy"])

    fit_seconds: list[float] = []
    storage = None
    if work_dir is not None:
        from backends.optuna_storage import JOURNAL_FILE, journal_storage

        work_dir.mkdir(parents=True, exist_ok=True)
        storage = journal_storage(work_dir / JOURNAL_FILE)
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.RandomSampler(seed=seed), storage=storage)
    study.optimize(objective, n_trials=n_trials)
    return sum(fit_seconds)


def measures(quick: bool) -> list[SpeedMeasure]:
    counts = [100] if quick else [100, 500]
    storage_trials = 40 if quick else 400
    found = [SpeedMeasure(f"overhead_per_trial-{algorithm}-{n}", _zero_cost(algorithm, n), trials=n, rounds=3, warmup_rounds=1)
             for algorithm in ALGORITHMS for n in counts]  # 3 rounds: --compare's gate has an interval at once
    found += [SpeedMeasure(f"storage_overhead_per_trial-{kind}-{workers}", _storage(kind, workers, storage_trials), trials=storage_trials,
                           needs=("postgres",) if kind == "postgresql" else (), seconds_per_trial=True)
              for kind in STORAGE_KINDS for workers in (1, 2, 4)]
    return found


def _zero_cost(algorithm: str, n_trials: int) -> Any:
    return lambda work_dir, resources: optuna_zero_cost(algorithm, n_trials, work_dir)


def _storage(kind: str, workers: int, n_trials: int) -> Any:
    return lambda work_dir, resources: optuna_storage_zero_cost(kind, workers, n_trials, work_dir, resources.get("postgres"))
