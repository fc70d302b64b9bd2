"""What the speed suite times: backend overhead, trial start-up, epoch throughput, harness against hand-driven.

Plain functions (no pytest) so that each measure is one call; `bench/speed/suite/` wraps them in pytest-benchmark.
"""

from __future__ import annotations

import dataclasses
import os
import time
from pathlib import Path
from typing import Any

from bench.speed.probes import injected_delay

SLOWDOWN_VARIABLE = "TUNEBENCH_SPEED_SLOWDOWN"  # "measure-name:fraction": makes one side of a paired measure that much slower


def injected_slowdown(measure: str, seconds: float) -> None:
    """Sleep `fraction` x `seconds` when TUNEBENCH_SPEED_SLOWDOWN names `measure` (tests of the harness gate: a 5% slower
    `bench run` is harness:0.05)."""
    name, _, fraction = os.environ.get(SLOWDOWN_VARIABLE, "").partition(":")
    if name and name == measure:
        time.sleep(float(fraction) * seconds)


def bench_run_workers_zero_cost(backend: str, workers: int, n_trials: int, results_dir: Path) -> float:
    """Seconds per trial of `bench run --backend B --task synthetic --workers N` (one worker: --trials-per-worker forces
    the multi-worker mode), from the first trial's start to the last trial's end, so that process start-up is left out:
    the backend's shared search (its storage or server) and the shared budget at 1, 2 and 4 worker processes."""
    import json

    from bench.run import Budget, RunConfig, run_tuning

    config = RunConfig(backend=backend, task="synthetic", workers=workers, trials_per_worker=n_trials if workers == 1 else None,
                       budget=Budget(trials=n_trials, max_epochs=1), results_dir=str(results_dir),
                       run_id=f"workers-{backend}-{workers}-{time.monotonic_ns()}")
    run = run_tuning(config, argv=["speed"])
    trials = [json.loads(line) for line in (Path(run["folder"]) / "trials.jsonl").read_text().splitlines() if line.strip()]
    if len(trials) != n_trials or run["status"] != "complete":
        raise RuntimeError(f"{backend} x{workers}: {len(trials)} trials of {n_trials}, run {run['status']}")
    span = max(t["finished_at_seconds"] for t in trials) - min(t["started_at_seconds"] for t in trials)
    return span / n_trials


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
    """The search of `backend` driven by hand the way its users write it (Backend.hand_driven_search): its seconds inside
    `model.fit`."""
    from backends.registry import get_backend

    return get_backend(backend).hand_driven_search(space, n_trials, epochs, seed, work_dir)


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
