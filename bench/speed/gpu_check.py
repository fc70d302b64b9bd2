"""`bench gpu-check`: both backends on one accelerator next to a plain `model.fit` of the same model, per-epoch seconds,
trial start-up and samples/s, kept as a baseline per machine (GPU name) and compared with the last one.

Made for a GPU machine with JAX (`--keras-backend jax --device gpu:0`, Fashion-MNIST, the seed space); it runs anywhere
Keras does, so it is tested on CPU with small settings.
"""

from __future__ import annotations

import json
import statistics
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

BASELINE_PREFIX = "gpu-check_"


@dataclass(frozen=True)
class EpochFigures:
    """One way of training (plain fit, or a backend's trials), in seconds and samples per second."""

    label: str
    trials: int
    first_epoch_seconds: float  # median over trials: tracing and compilation included
    later_epoch_seconds: float  # median of the later epochs of every trial
    startup_seconds: float | None  # median per trial: build + the first epoch's extra (None: fewer than 2 epochs)
    samples_per_second: float  # training samples / later epoch seconds (validation pass included, as fit runs it)
    wall_seconds: float


def plain_fit(data: Any, params: dict[str, Any], epochs: int, execution: Any) -> EpochFigures:
    """The space's first configuration, built and fitted by hand with per-epoch timing: the floor for the backends."""
    import keras

    from bench.run.records import startup_figures
    from bench.task.cnn_model import build_cnn

    seconds: list[float] = []

    class EpochClock(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
            self.t0 = time.perf_counter()

        def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
            seconds.append(time.perf_counter() - self.t0)

    started = time.perf_counter()
    keras.backend.clear_session(free_memory=False)
    model = build_cnn(params, input_shape=data.input_shape, num_classes=data.facts["num_classes"])
    execution.apply(model)
    built = time.perf_counter() - started
    model.fit(data.x_train, data.y_train, validation_data=(data.x_val, data.y_val), epochs=epochs, batch_size=int(params["batch_size"]),
              verbose=0, callbacks=[EpochClock()])
    later = statistics.median(seconds[1:]) if len(seconds) > 1 else seconds[0]
    _, startup = startup_figures(built, seconds)  # as the harness records it for every trial
    return EpochFigures("plain fit", 1, seconds[0], later, startup, len(data.y_train) / later, time.perf_counter() - started)


def backend_figures(label: str, run: dict[str, Any], train_samples: int) -> EpochFigures:
    """The same figures from a `bench run`'s trial records."""
    trials = [json.loads(line) for line in (Path(run["folder"]) / "trials.jsonl").read_text().splitlines()]
    epochs = [t["epoch_seconds"] for t in trials if t.get("epoch_seconds")]
    later = [s for e in epochs for s in e[1:]] or [e[0] for e in epochs]
    startups = [t["startup_seconds"] for t in trials if t.get("startup_seconds") is not None]
    later_median = statistics.median(later)
    return EpochFigures(label, len(trials), statistics.median(e[0] for e in epochs), later_median,
                        statistics.median(startups) if startups else None, train_samples / later_median, run["budget_spent"]["seconds"])


def run_check(*, backends: list[str], dataset: str, data_dir: str | None, space: str, trials: int, max_epochs: int, device: str,
              keras_backend: str, train_subset: int | None, steps_per_execution: int | None, jit_compile: str,
              results_dir: Path) -> dict[str, Any]:
    """Each backend in this process (the first trial pays the process's one-off start-up; the medians do not), then the
    plain fit of the space's first configuration."""
    from bench.run import Budget, RunConfig, run_tuning
    from bench.run.environment import accelerator_names, configure_runtime, gpu_names
    from bench.run.execution import ExecutionSettings
    from bench.task.datasets import load_dataset
    from search_space import resolve_space

    execution = ExecutionSettings(steps_per_execution, jit_compile)
    configure_runtime(keras_backend, device)
    data = load_dataset(dataset, data_dir=data_dir, train_subset=train_subset)
    first = {p.name: (p.grid() or (p.low,))[0] for p in resolve_space(space)}
    figures = []
    stamp = time.strftime("%Y%m%d-%H%M%S")
    for backend in backends:
        run = run_tuning(RunConfig(backend=backend, task="cnn", dataset=dataset, data_dir=data_dir, train_subset=train_subset, space=space,
                                   budget=Budget(trials=trials, max_epochs=max_epochs), device=device, keras_backend=keras_backend,
                                   steps_per_execution=steps_per_execution, jit_compile=jit_compile, results_dir=str(results_dir),
                                   run_id=f"gpu-check-{stamp}-{backend}"), argv=["gpu-check"])
        figures.append(backend_figures(backend, run, len(data.y_train)))
    figures.insert(0, plain_fit(data, first, max_epochs, execution))
    return {"gpus": gpu_names(), "accelerators": accelerator_names(keras_backend), "keras_backend": keras_backend, "device": device,
            "dataset": dataset, "train_samples": len(data.y_train), "space": space, "trials": trials, "max_epochs": max_epochs,
            "execution": execution.to_dict(), "figures": [asdict(f) for f in figures]}


def table(result: dict[str, Any], baseline: dict[str, Any] | None) -> str:
    """The figures as aligned text, with samples/s against the baseline's where one was kept."""
    before = {f["label"]: f for f in (baseline or {}).get("figures", [])}
    lines = [f"{'':<12} {'trials':>6} {'first epoch s':>14} {'later epoch s':>14} {'start-up s':>11} {'samples/s':>11}"
             + ("  vs baseline" if baseline else "")]
    for f in result["figures"]:
        startup = "-" if f["startup_seconds"] is None else f"{f['startup_seconds']:.2f}"
        line = (f"{f['label']:<12} {f['trials']:>6} {f['first_epoch_seconds']:>14.2f} {f['later_epoch_seconds']:>14.3f} {startup:>11} "
                f"{f['samples_per_second']:>11.0f}")
        if f["label"] in before:
            line += f"  {f['samples_per_second'] / before[f['label']]['samples_per_second']:.2f}x"
        lines.append(line)
    where = ", ".join(result["gpus"]) or "no GPU (nvidia-smi)"
    lines.append(f"on {where}; Keras {result['keras_backend']} sees: {', '.join(result['accelerators']) or 'CPU only'}; "
                 f"{result['dataset']} ({result['train_samples']} training samples), space {result['space']}")
    return "\n".join(lines)


def latest_baseline(folder: Path) -> dict[str, Any] | None:
    found = sorted(folder.glob(f"{BASELINE_PREFIX}*.json"))
    return json.loads(found[-1].read_text()) if found else None


def save_baseline(folder: Path, name: str, result: dict[str, Any]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{BASELINE_PREFIX}{time.strftime('%Y%m%d-%H%M%S')}_{name}.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    return path
