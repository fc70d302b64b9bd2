"""What the speed suite times: backend overhead, trial start-up, epoch throughput, harness against hand-driven.

Plain functions (no pytest) so that each measure is one call; `bench/speed/suite/` wraps them in pytest-benchmark.
"""

from __future__ import annotations

import dataclasses
import os
import time
from pathlib import Path
from typing import Any

from backends.keras_tuner_backend import tuner_class
from search_space import CategoricalParam, FloatParam, SearchSpace, resolve_space

DELAY_VARIABLE = "TUNEBENCH_SPEED_DELAY"  # "measure-name:seconds": slows one measure down (tests of the regression gate)


def injected_delay(measure: str) -> None:
    spec = os.environ.get(DELAY_VARIABLE, "")
    name, _, seconds = spec.partition(":")
    if name and name == measure:
        time.sleep(float(seconds))


SLOWDOWN_VARIABLE = "TUNEBENCH_SPEED_SLOWDOWN"  # "measure-name:fraction": makes one side of a paired measure that much slower


def injected_slowdown(measure: str, seconds: float) -> None:
    """Sleep `fraction` x `seconds` when TUNEBENCH_SPEED_SLOWDOWN names `measure` (tests of the harness gate: a 5% slower
    `bench run` is harness:0.05)."""
    name, _, fraction = os.environ.get(SLOWDOWN_VARIABLE, "").partition(":")
    if name and name == measure:
        time.sleep(float(fraction) * seconds)


def discrete(space: SearchSpace, points: int = 5) -> SearchSpace:
    """The same space with continuous floats replaced by `points` grid values (grid algorithms need that)."""
    import numpy as np

    params = []
    for p in space:
        if isinstance(p, FloatParam) and p.step is None:
            raw = np.geomspace(p.low, p.high, points) if p.log else np.linspace(p.low, p.high, points)
            p = CategoricalParam(name=p.name, choices=[float(f"{v:.6g}") for v in raw], when=p.when)
        params.append(p)
    return dataclasses.replace(space, params=tuple(params))


def optuna_zero_cost(algorithm: str, n_trials: int, storage_dir: Path, space_name: str = "seed_cnn") -> None:
    """Optuna's own work for n trials (sampling + journal storage, as `bench run` configures it); objective costs nothing."""
    import optuna

    from backends.optuna_backend import journal_storage, make_sampler
    from backends.optuna_space import suggest

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

    from backends.optuna_backend import journal_storage, rdb_storage

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

    from backends.optuna_backend import journal_storage, rdb_storage

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


def keras_tuner_chief_zero_cost(workers: int, n_trials: int, results_dir: Path) -> float:
    """Seconds per trial of KerasTuner's chief/worker mode on the zero-cost synthetic task: `bench run --backend
    keras-tuner --task synthetic --workers N` (one worker: --trials-per-worker forces the chief mode), from the first
    trial's start to the last trial's end, so that process start-up is left out."""
    import json

    from bench.run import Budget, RunConfig, run_tuning

    config = RunConfig(backend="keras-tuner", task="synthetic", workers=workers, trials_per_worker=n_trials if workers == 1 else None,
                       budget=Budget(trials=n_trials, max_epochs=1), results_dir=str(results_dir), run_id=f"chief-{workers}-{time.monotonic_ns()}")
    run = run_tuning(config, argv=["speed"])
    trials = [json.loads(line) for line in (Path(run["folder"]) / "trials.jsonl").read_text().splitlines() if line.strip()]
    if len(trials) != n_trials or run["status"] != "complete":
        raise RuntimeError(f"KerasTuner's chief x{workers}: {len(trials)} trials of {n_trials}, run {run['status']}")
    span = max(t["finished_at_seconds"] for t in trials) - min(t["started_at_seconds"] for t in trials)
    return span / n_trials


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


TASK_PARAMS = {"conv1_filters": 32, "conv1_kernel": 3, "conv2_filters": 48, "conv2_kernel": 3, "dropout": 0.2, "dense": 64,
               "learning_rate": 3e-3, "batch_size": 32}


def trial_startup(data: Any, params: dict[str, Any] = TASK_PARAMS) -> None:
    """Build, compile and take the first training step of the task's model."""
    from bench.task.cnn_model import build_cnn

    model = build_cnn(params, input_shape=data.input_shape, num_classes=data.facts["num_classes"])
    model.fit(data.x_train[: params["batch_size"]], data.y_train[: params["batch_size"]], epochs=1,
              batch_size=params["batch_size"], verbose=0)
    injected_delay("startup")


def warm_model(data: Any, params: dict[str, Any] = TASK_PARAMS, execution: Any = None) -> tuple[Any, float]:
    """A built model that has already run one epoch (compilation done) for throughput measures, under the harness's
    execution settings when given; and the seconds of that first epoch (tracing and compilation included)."""
    from bench.task.cnn_model import build_cnn

    model = build_cnn(params, input_shape=data.input_shape, num_classes=data.facts["num_classes"])
    if execution is not None:
        execution.apply(model)
    started = time.perf_counter()
    model.fit(data.x_train, data.y_train, validation_data=(data.x_val, data.y_val), epochs=1, batch_size=params["batch_size"], verbose=0)
    return model, time.perf_counter() - started


def epochs_with_trainer(model: Any, data: Any, epochs: int, batch_size: int) -> None:
    """Our trainer (best-epoch keeper, budget guard callbacks), as every trial uses it."""
    from bench.run.budget import Budget, BudgetGuard
    from bench.run.trainer import TrainingProgress, fit
    from bench.task.base import LoadedTask, Task

    task = LoadedTask(Task(name="cnn", data=data, build=lambda params: model), data, "cnn")  # the same data, model.fit's loop
    guard = BudgetGuard(Budget(trials=None, max_epochs=epochs, time_budget=3600))
    fit(model, task, progress=TrainingProgress(), epochs=epochs, batch_size=batch_size, guard=guard)
    injected_delay("throughput-trainer")


def epochs_with_plain_fit(model: Any, data: Any, epochs: int, batch_size: int, measure: str = "throughput-plain-fit") -> None:
    model.fit(data.x_train, data.y_train, validation_data=(data.x_val, data.y_val), epochs=epochs, batch_size=batch_size, verbose=0)
    injected_delay(measure)


def hand_driven_optuna(space_name: str, n_trials: int, epochs: int, seed: int, train_subset: int | None,
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
        from backends.optuna_backend import JOURNAL_FILE, journal_storage

        work_dir.mkdir(parents=True, exist_ok=True)
        storage = journal_storage(work_dir / JOURNAL_FILE)
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.RandomSampler(seed=seed), storage=storage)
    study.optimize(objective, n_trials=n_trials)
    return sum(fit_seconds)


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


@dataclasses.dataclass(frozen=True)
class BenchDriven:
    """What one in-process `bench run` of the harness measure spent, from its trials.jsonl."""

    training_seconds: float  # inside model.fit, less tunebench's own callbacks there: the hand-driven search's training
    startup_seconds: float  # per trial: build + the first epoch's extra over later ones (tracing, compilation)
    startup_share: float  # of build + training seconds


def bench_driven(backend: str, results_dir: Path, space: str, n_trials: int, epochs: int, seed: int, train_subset: int | None) -> BenchDriven:
    """The same search through `bench run` (in-process, random search): records, storage, test evaluation and all.

    Its `training_seconds` are the seconds spent inside `model.fit` less the time tunebench's own callbacks took there, as
    recorded per trial: the same training the hand-driven search does; everything else is the harness's cost.
    """
    import json

    from bench.run import Budget, RunConfig, run_tuning
    from bench.run.records import startup_share

    start = time.perf_counter()
    run = run_tuning(RunConfig(backend=backend, algorithm="random", space=space, seed=seed, train_subset=train_subset,
                               budget=Budget(trials=n_trials, max_epochs=epochs), results_dir=str(results_dir)), argv=["speed"])
    injected_slowdown("harness", time.perf_counter() - start)
    lines = (Path(run["folder"]) / "trials.jsonl").read_text().splitlines()
    trials = [json.loads(line) for line in lines]
    started = [t["startup_seconds"] for t in trials if t["startup_seconds"] is not None]
    return BenchDriven(training_seconds=sum(t["fit_seconds"] - t["callback_seconds"] for t in trials),
                       startup_seconds=sum(started) / max(1, len(started)), startup_share=startup_share(trials) or 0.0)


def hand_driven(backend: str, work_dir: Path, n_trials: int, epochs: int, seed: int, space: str = "small_cnn") -> float:
    """The tutorial-style search of `backend` (its seconds inside `model.fit`)."""
    if backend == "optuna":
        return hand_driven_optuna(space, n_trials, epochs, seed, None, work_dir)
    return hand_driven_keras_tuner(space, n_trials, epochs, seed, None, work_dir)


def harness_pairs(backend: str, pairs: int, n_trials: int, epochs: int, work_dir: Path) -> list[dict[str, float]]:
    """Hand-driven and `bench run` searches in turn (order alternating), after one warm-up of each, in this process."""
    hand_driven(backend, work_dir / "warm-hand", 1, 1, 99)  # imports, kernels, first tracing
    bench_driven(backend, work_dir / "warm", "small_cnn", 1, 1, 98, None)
    samples: list[dict[str, float]] = []
    for repeat in range(pairs):
        hand_args = (backend, work_dir / f"hand{repeat}", n_trials, epochs, repeat)
        bench_args = (backend, work_dir / f"r{repeat}", "small_cnn", n_trials, epochs, repeat, None)
        if repeat % 2:  # whichever runs first is not favoured
            bench_wall, bench = settled(bench_driven, *bench_args)
            hand_wall, hand_fit = settled(hand_driven, *hand_args)
        else:
            hand_wall, hand_fit = settled(hand_driven, *hand_args)
            bench_wall, bench = settled(bench_driven, *bench_args)
        samples.append({"hand_wall": hand_wall, "hand_fit": hand_fit, "bench_wall": bench_wall, "bench_fit": bench.training_seconds,
                        "trial_startup_seconds": bench.startup_seconds, "startup_share": bench.startup_share})
    return samples


def harness_pairs_in_fresh_process(backend: str, pairs: int, n_trials: int, epochs: int, work_dir: Path) -> list[dict[str, float]]:
    """`harness_pairs` in a new Python process: the same state for every measurement, whatever the suite ran before it
    (a long suite's process holds many models; KerasTuner's per-trial gc.collect and TensorFlow's tracing then cost more)."""
    import json
    import subprocess
    import sys

    work_dir.mkdir(parents=True, exist_ok=True)
    out = work_dir / "pairs.json"
    code = ("import json, sys; from pathlib import Path; from bench.speed.measures import harness_pairs; "
            f"Path({str(out)!r}).write_text(json.dumps(harness_pairs({backend!r}, {pairs}, {n_trials}, {epochs}, Path({str(work_dir)!r}))))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"harness pairs failed ({done.returncode}): {done.stderr[-2000:]}")
    return json.loads(out.read_text())


def settled(fn: Any, *args: Any) -> tuple[float, Any]:
    """(wall seconds, result) of `fn(*args)`, started on a settled heap.

    A long process (the speed suite) piles up Keras and TensorFlow objects; a full collection over them costs 0.4-0.9 s
    here and lands on whichever search happens to trigger it. Collecting first and freezing the survivors keeps that
    debt out of both sides alike; what the timed call allocates is collected as usual.
    """
    import gc

    gc.collect()
    gc.freeze()
    try:
        start = time.perf_counter()
        result = fn(*args)
        return time.perf_counter() - start, result
    finally:
        gc.unfreeze()


@dataclasses.dataclass(frozen=True)
class ScaleResult:
    """Per-trial cost of a `bench run` of the synthetic task, read from its records."""

    trials: int
    wall_seconds: float  # the whole command, start-up included
    per_trial_ms: float  # mean wall time per trial (backend + harness; training costs ~nothing here)
    backend_ms: float  # of which the backend's own work (overhead outside training, less tunebench's bookkeeping)
    harness_ms: float  # of which tunebench's bookkeeping
    first_tenth_ms: float  # mean wall per trial over the first tenth of trials
    last_tenth_ms: float  # ... and over the last tenth: the growth with trial count
    slope_ms_per_100_trials: float  # least-squares growth of per-trial wall time
    process_startup_seconds: float  # from the process's start to its first trial (run.json)


def bench_run_at_scale(backend: str, n_trials: int, results_dir: Path, algorithm: str | None = None) -> ScaleResult:
    """`python -m bench run --task synthetic --trials N` in a subprocess, end to end; per-trial costs from its trials.jsonl."""
    import json
    import subprocess
    import sys

    from scipy import stats

    from bench.run.records import backend_seconds

    run_id = f"scale-{backend}-{n_trials}-{time.monotonic_ns()}"
    command = [sys.executable, "-m", "bench", "run", "--task", "synthetic", "--backend", backend, "--trials", str(n_trials),
               "--run-id", run_id, "--results-dir", str(results_dir), "--quiet"]
    if algorithm:
        command += ["--algorithm", algorithm]
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"bench run failed ({done.returncode}): {done.stderr[-2000:]}")
    injected_delay(f"scale-{backend}")
    trials = [json.loads(line) for line in (results_dir / run_id / "trials.jsonl").read_text().splitlines()]
    startup = json.loads((results_dir / run_id / "run.json").read_text())["process_startup_seconds"]
    walls = [t["wall_seconds"] for t in trials]
    tenth = max(1, len(trials) // 10)
    mean = lambda values: 1000 * sum(values) / len(values)  # noqa: E731 - milliseconds
    return ScaleResult(
        trials=len(trials), wall_seconds=wall, per_trial_ms=mean(walls),
        backend_ms=mean([backend_seconds(t) for t in trials]),
        harness_ms=mean([t["harness_seconds"] for t in trials]),
        first_tenth_ms=mean(walls[:tenth]), last_tenth_ms=mean(walls[-tenth:]),
        slope_ms_per_100_trials=float(stats.linregress(range(len(walls)), walls).slope) * 1000 * 100,
        process_startup_seconds=startup,
    )
