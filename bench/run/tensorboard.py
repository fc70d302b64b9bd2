"""`--tensorboard`: one TensorBoard run per trial, with HParams, written from tunebench's records.

Layout, under the run folder (`tensorboard --logdir RUN_FOLDER`, or a folder of runs to see backends side by side):

    tensorboard/trial-0003/             HParams session RUN_ID/trial-0003 (the params, plus run.id, run.backend, run.algorithm,
                                        run.seed, trial.state),
                                        the final metrics (the task's objective at the scored epoch, its test score, every
                                        --objectives value, train_seconds, epochs_run) and the session's end status
    tensorboard/trial-0003/train/       epoch_<metric> per epoch, as Keras's TensorBoard callback names them
    tensorboard/trial-0003/validation/  epoch_<metric> per epoch (val_ dropped)

The same writer serves every backend and every Keras backend: it runs after each trial, from the record, so nothing is
added inside training (Keras's TensorBoard callback, which KerasTuner's own HParams use, would add per-epoch summary
writes to one backend's trials only). It needs the `tensorboard` package, not TensorFlow.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from bench.errors import UsageError
from bench.run.objectives import SearchObjective
from bench.run.records import TrialRecord


def require_tensorboard() -> None:
    """One line when the tensorboard package is missing (it ships with TensorFlow, not with JAX or PyTorch)."""
    import importlib.util

    if importlib.util.find_spec("tensorboard") is None:
        raise UsageError("--tensorboard needs the tensorboard package, which this Keras backend's install lacks: pip install tensorboard")


def trial_dir_name(number: int) -> str:
    return f"trial-{number:04d}"


def _hparam_value(value: Any) -> Any:
    """HParams hold bools, numbers and strings; anything else (None, lists) is written as its text."""
    if isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


class TensorBoardWriter:
    """A harness listener: after every trial, that trial's TensorBoard run (trials already recorded are written at start)."""

    def __init__(self, log_dir: Path, run: Mapping[str, Any], objectives: Sequence[SearchObjective] = (),
                 recorded: Sequence[Mapping[str, Any]] = ()) -> None:
        require_tensorboard()
        self.log_dir = log_dir
        self.run_id = str(run.get("run_id"))
        self.run_hparams = {"run.id": self.run_id, "run.backend": str(run.get("backend")), "run.algorithm": str(run.get("algorithm")),
                            "run.seed": int(run.get("seed") or 0)}
        objective = run.get("objective") or {}
        self.metric = str(objective.get("metric", "val_accuracy"))
        self.test_metric = "test_" + self.metric.removeprefix("val_")
        self.objectives = tuple(objectives)
        for trial in recorded:  # a resumed run: trials recorded before (killed ones too) that have no run yet
            if not (log_dir / trial_dir_name(int(trial["number"]))).exists():
                self.write(trial)

    def session_group(self, name: str) -> str:
        """TensorBoard's HParams plugin groups sessions by this id across its whole logdir: one per trial of each run, so that
        `tensorboard --logdir results/` shows every trial of every run apart."""
        return f"{self.run_id}/{name}"

    def on_trial(self, record: TrialRecord) -> None:
        self.write(record.to_dict())

    def write(self, trial: Mapping[str, Any]) -> Path:
        from tensorboard.compat.proto import event_pb2, summary_pb2
        from tensorboard.plugins.hparams import api_pb2
        from tensorboard.plugins.hparams import summary as hparams_v1
        from tensorboard.plugins.hparams import summary_v2 as hparams_v2
        from tensorboard.summary.writer.event_file_writer import EventFileWriter

        def portable(summary: Any) -> Any:  # with TensorFlow imported, the hparams module returns TensorFlow's own proto class
            return summary_pb2.Summary.FromString(summary.SerializeToString())

        def scalars(writer: Any, values: Mapping[str, float], step: int) -> None:
            finite = [summary_pb2.Summary.Value(tag=tag, simple_value=float(v)) for tag, v in values.items()
                      if v is not None and math.isfinite(float(v))]
            if finite:
                writer.add_event(event_pb2.Event(wall_time=time.time(), step=step, summary=summary_pb2.Summary(value=finite)))

        name = trial_dir_name(int(trial["number"]))
        path = self.log_dir / name
        hparams = {**{k: _hparam_value(v) for k, v in (trial.get("params") or {}).items()}, **self.run_hparams,
                   "trial.state": str(trial["state"])}
        session = EventFileWriter(str(path))
        session.add_event(event_pb2.Event(wall_time=time.time(), step=0, summary=portable(hparams_v2.hparams_pb(hparams, trial_id=self.session_group(name)))))
        finals = {self.metric: trial.get("objective"), self.test_metric: trial.get("test_objective"),
                  "train_seconds": trial.get("train_seconds"), "epochs_run": trial.get("epochs_run")}
        finals.update({o.name: (trial.get("objectives") or {}).get(o.name) for o in self.objectives})
        scalars(session, finals, int(trial.get("epochs_run") or 0))
        status = {"complete": api_pb2.STATUS_SUCCESS, "failed": api_pb2.STATUS_FAILURE}.get(str(trial["state"]), api_pb2.STATUS_UNKNOWN)
        session.add_event(event_pb2.Event(wall_time=time.time(), step=0, summary=portable(hparams_v1.session_end_pb(status))))
        session.close()
        first = int(trial.get("initial_epoch") or 0)
        curves: dict[str, dict[int, dict[str, float]]] = {"train": {}, "validation": {}}
        for i, logs in enumerate(trial.get("logs_per_epoch") or []):
            for key, value in logs.items():
                split = "validation" if key.startswith("val_") else "train"
                curves[split].setdefault(first + i, {})["epoch_" + key.removeprefix("val_")] = value
        for split, epochs in curves.items():
            if epochs:
                writer = EventFileWriter(str(path / split))
                for epoch, values in sorted(epochs.items()):
                    scalars(writer, values, epoch)
                writer.close()
        return path
