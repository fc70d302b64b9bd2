"""What runs inside each Ray Tune trial's actor process: the trial under tunebench's harness, on the run's shared ledger,
reporting every epoch (with a checkpoint of the model, as Ray's Keras callback does) through `tune.report`."""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
from pathlib import Path
from typing import Any

TRIAL_DONE = threading.Event()  # set when this process's trial is recorded: the actor is not torn down before that
OBJECTIVE_KEY = "objective"  # reported each epoch: the task's objective at the trial's best epoch so far (its score)
FINAL_EPOCH_KEY = "final_epoch"  # reported each epoch: whether training ends after it whatever Ray's scheduler decides
# (its last epoch, early stopping, or the run's budget spent): a trial Ray stopped at an epoch without it was pruned


class NotATrial(Exception):
    """Ray started this trial after the run's budget was spent (or a killed session had already run it): it claims no place
    in the budget and trains nothing. Raised, so that Ray records it as errored with this name (a trial that returns
    without reporting breaks Ray's metric check); tunebench's read-back of Ray's results leaves such trials out."""


class TrialStopped(Exception):
    """Ray's scheduler stopped this trial before its last epoch (ASHA, the median rule): the trial is pruned."""


def objective_key(name: str) -> str:
    """Where each of a multi-objective run's values is reported (at the trial's scored epoch so far)."""
    return f"{OBJECTIVE_KEY}/{name}"


def report_callback(scope: Any, multi: bool) -> Any:
    """Keras callback reporting each epoch to Ray as `ray.tune.integration.keras.TuneReportCheckpointCallback` does (all
    of Keras's logs, and a checkpoint: the model saved as model.keras in a temporary folder, which Ray moves into the trial's
    folder), plus the trial's score so far; a stop by Ray's scheduler before the last epoch becomes TrialStopped. (Ray's
    own callback imports TensorFlow, which a Keras on JAX or torch may not have.)"""
    import keras
    from ray import tune

    class ReportEpoch(keras.callbacks.Callback):
        def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
            guard = scope.harness.guard
            final = epoch + 1 >= int(self.params.get("epochs") or 0) or bool(self.model.stop_training) or guard.exhausted() is not None
            metrics = {k: float(v) for k, v in (logs or {}).items() if isinstance(v, (int, float)) or hasattr(v, "__float__")}
            metrics[OBJECTIVE_KEY] = scope.progress.best_objective
            metrics[FINAL_EPOCH_KEY] = final
            if multi:
                metrics.update({objective_key(k): v for k, v in zip([o.name for o in scope.harness.objectives],
                                                                     scope.search_values(), strict=True)})
            folder = tempfile.mkdtemp()
            try:
                self.model.save(Path(folder, "model.keras").as_posix())
                tune.report(metrics, checkpoint=tune.Checkpoint.from_directory(folder))
            except SystemExit:  # Ray ends a trial it stops by raising SystemExit(0) in its report call
                if final:
                    self.model.stop_training = True  # it ended here anyway (ASHA stops at max_t; the budget is spent)
                    return
                raise TrialStopped(f"stopped by Ray's scheduler after epoch {epoch + 1}") from None
            finally:
                shutil.rmtree(folder, ignore_errors=True)

    return ReportEpoch()


def watch_run(guard: Any, driver_pid: int, every_seconds: float = 0.5) -> None:
    """Stop this trial at its next batch (recorded failed) when the run was interrupted (the ledger says so) or its
    driver is gone (a SIGKILLed `bench run`): no trial outlives the command that started it."""
    from bench.run.environment import process_alive

    def watch() -> None:
        while not guard.interrupted:
            if not process_alive(driver_pid) or guard.ledger.read().get("stopped") == "interrupted":
                guard.interrupt()
                return
            threading.Event().wait(every_seconds)

    threading.Thread(target=watch, name="run-watch", daemon=True).start()


def train_trial(config: dict[str, Any], run_dir: str, driver_pid: int) -> None:
    """One Ray Tune trial under the harness. A failed trial raises, so that Ray records it as errored too; so does one Ray
    starts after the budget ran out (NotATrial)."""
    from ray import tune

    from backends.ray_tune_space import canonical_params
    from bench.run.environment import process_started_at
    from bench.run.worker import worker_context

    try:
        trial_id = tune.get_context().get_trial_id()
        # On a GPU, Ray has made this trial's GPU the only one visible (num_gpus=1): keep that, as Ray users do.
        ray_gpu = bool(tune.get_context().get_trial_resources().required_resources.get("GPU"))
        ctx, _ = worker_context(Path(run_dir), name=trial_id, index=0, configure=not ray_gpu)
        harness, guard = ctx.harness, ctx.guard
        if trial_id in harness.recorded:  # Ray restored a trial a killed session cut short: it was recorded failed then
            raise RuntimeError(f"trial {trial_id} was cut short by a killed session and recorded failed; it is not run again")
        watch_run(guard, driver_pid)
        if guard.claim_trial() is None:
            raise NotATrial(f"trial {trial_id}: the run's budget was spent before it started")
        try:
            harness.pruned_exceptions = (TrialStopped,)
            harness.mark(since=process_started_at())  # Ray's per-trial cost: this actor's start, imports and data are overhead
            multi = len(ctx.objectives) > 1
            with harness.trial(trial_id) as scope:
                model = scope.build(canonical_params(ctx.space, config))
                scope.fit(model, callbacks=[report_callback(scope, multi)])
                if multi:
                    scope.search_values()
        except TrialStopped:
            return
        finally:
            guard.release_claim()
    finally:
        TRIAL_DONE.set()


def trainable_class(run_dir: Path) -> type:
    """The Tune trainable for this run: `train_trial` as Ray wraps a function, whose clean-up waits until the trial is
    recorded (Ray tears a stopped trial's actor down without waiting for the function's thread)."""
    from ray.tune.trainable.function_trainable import wrap_function

    folder, driver = str(run_dir), os.getpid()

    def tunebench_trial(config: dict[str, Any]) -> None:
        from backends.ray_tune_trial import train_trial  # by reference: this module is imported in the actor, not pickled

        train_trial(config, folder, driver)

    base = wrap_function(tunebench_trial)

    class TunebenchTrial(base):  # type: ignore[misc, valid-type]
        def cleanup(self) -> None:
            from ray.train._internal.session import get_session

            from backends.ray_tune_trial import TRIAL_DONE

            session = get_session()
            started = session is not None and session.training_started
            try:
                super().cleanup()
            finally:
                if started:
                    TRIAL_DONE.wait(timeout=300)

    TunebenchTrial.__name__ = TunebenchTrial.__qualname__ = "tunebench_trial"
    return TunebenchTrial
