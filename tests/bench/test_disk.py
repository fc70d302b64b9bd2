"""Disk figures are what the disk holds (`du`), and the peak is a real peak: sampled at every epoch end."""

from __future__ import annotations

import os

from backends.conformance import du_bytes


def test_a_file_that_lives_only_during_training_is_in_the_peak_and_not_in_the_final_figure(tmp_path):
    """As a checkpoint a backend writes each epoch and deletes later: the harness's peak must have seen it."""
    import keras

    from bench.run.budget import Budget, BudgetGuard
    from bench.run.harness import Harness
    from bench.run.records import RunFolder
    from bench.task import TaskOptions
    from bench.task.registry import load_task

    folder = RunFolder(tmp_path / "run")
    folder.create()
    work = folder.path / "backend"
    work.mkdir()
    harness = Harness(task=load_task("cnn", TaskOptions(train_subset=100)), guard=BudgetGuard(Budget(trials=1, max_epochs=2)),
                      folder=folder, work_dir=work, seed=0)
    seen: list[int] = []  # `du` of the folder at each epoch end, measured by the test itself

    class ScratchCheckpoint(keras.callbacks.Callback):
        def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
            (work / f"scratch{epoch}.bin").write_bytes(os.urandom(2**20))
            seen.append(du_bytes(work))

        def on_train_end(self, logs: dict | None = None) -> None:
            for path in work.glob("scratch*.bin"):
                path.unlink()

    with harness.trial("0") as scope:
        model = scope.build({"conv1_filters": 4, "conv2_filters": 8, "dense": 16, "batch_size": 64})
        scope.fit(model, callbacks=[ScratchCheckpoint()])
    final = du_bytes(work)
    assert len(seen) == 2
    assert harness.disk.peak == max(seen)
    assert max(seen) >= final + 2 * 2**20
    assert harness.disk.sample().allocated == final
