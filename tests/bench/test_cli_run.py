"""`python -m bench run` as a user runs it: bad flags, Ctrl-C and resume, plugins, real datasets."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path

import pytest

from backends.conformance import check_run_invariants
from bench.task.datasets import DEBIAN_FASHION_MNIST
from tests.helpers import ROOT, Holds, bench, error_lines, start_bench
from tests.plugin.install import install_plugin

TINY = str(ROOT / "tests" / "data" / "tiny_space.yaml")
SYNTHETIC_SPACE = ROOT / "search_space" / "spaces" / "synthetic.yaml"
SLOW_TASK = "backends.conformance:synthetic_with_slow_epochs"  # 0.3 s epochs: a kill or Ctrl-C lands inside a trial
SLOW_MIN_TASK = "backends.conformance:synthetic_loss_with_slow_epochs"  # the same, minimising its validation loss


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--trials", "0"], "argument --trials: expected a positive integer, got '0'"),
        (["--backend", "nope"], "unknown backend 'nope'; known: optuna, keras-tuner"),
        (["--sampler", "annealing"], "optuna has no algorithm 'annealing'; choose one of: tpe, random, grid, cmaes, qmc"),
        (["--backend", "keras-tuner", "--pruner", "median"], "keras-tuner has no pruners; --pruner is for: optuna"),
        (["--space", "missing.yaml"], "space 'missing.yaml' is neither a file nor a shipped space"),
        (["--sampler", "grid"], "optuna: the grid algorithm needs every parameter discrete, but learning_rate is continuous"),
        (["--dataset", "cifar"], "unknown dataset 'cifar'; known: digits, mnist, fashion_mnist, idx"),
        (["--device", "gpu:0"], "--device gpu:0: Keras backend tensorflow sees no GPU here; use --device cpu"),
        (["--device", "tpu"], "--device must be 'cpu' or 'gpu:N'"),
        (["--time-budget", "soon"], "argument --time-budget: expected seconds, got 'soon'"),
        (["--resume", "no-such-run"], "--resume 'no-such-run': no run folder"),
        (["--data-dir", "/nonexistent"], "--data-dir '/nonexistent': no such folder"),
        (["--run-id", "../escaped"], "--run-id '../escaped': a run id is a plain folder name"),
        (["--run-id", "a/b"], "--run-id 'a/b': a run id is a plain folder name"),
        (["--run-id", "/tmp/absolute"], "--run-id '/tmp/absolute': a run id is a plain folder name"),
        (["--run-id", ".."], "--run-id '..': a run id is a plain folder name"),
        (["--seed", "-1"], "argument --seed: expected a seed from 0 to"),
        (["--time-budget", "inf"], "argument --time-budget: expected positive, finite seconds, got 'inf'"),
        (["--space", "x" * 30_000], "is neither a file nor a shipped space"),
        (["--task", "nope"], "unknown task 'nope'; known: cnn, mlp-regression, mlp-classification, synthetic"),
        (["--task", "no_such_module:task"], "--task 'no_such_module:task': no module 'no_such_module' here"),
        (["--task", "bench.task.base:DIRECTIONS"], "--task 'bench.task.base:DIRECTIONS' is a tuple, not a bench.task.Task"),
        (["--task", "mlp-regression", "--dataset", "digits"], "--dataset is for the cnn and mlp-classification tasks; task mlp-regression brings its own data"),
        (["--task", "synthetic", "--space", "small_cnn"], "which task synthetic does not read"),
        (["--steps-per-execution", "0"], "argument --steps-per-execution: expected a positive integer, got '0'"),
        (["--jit-compile", "maybe"], "argument --jit-compile: invalid choice: 'maybe'"),
        (["--keras-backend", "torch", "--steps-per-execution", "4"], "--steps-per-execution 4: Keras's torch backend runs one batch"),
        (["--backend", "ray-tune", "--sampler", "tpe"], "ray-tune has no algorithm 'tpe'; choose one of: random, grid, optuna, hyperopt"),
        (["--backend", "ray-tune", "--scheduler", "hyperband"],
         "ray-tune has no scheduler 'hyperband'; choose one of: none, asha, async-hyperband, median, fifo"),
        (["--backend", "ray-tune", "--search", "random", "--space", "conditional_cnn"],
         "ray-tune --search random cannot search conditional parameters; use --search optuna"),
        (["--backend", "ray-tune", "--search", "hyperopt", "--objectives", "val_accuracy:max,params:min"],
         "ray-tune --search hyperopt cannot search several objectives; use one of: optuna"),
        (["--backend", "ray-tune", "--search", "optuna", "--objectives", "val_accuracy:max,params:min", "--scheduler", "asha"],
         "--scheduler asha cannot prune a multi-objective search"),
        (["--backend", "ray-tune", "--trials-per-worker", "2"], "--trials-per-worker: ray-tune runs every trial in a new process of its own"),
        (["--backend", "ray-tune", "--storage", "postgresql://u@localhost/db"], "--storage is for optuna (a search kept in a database)"),
    ],
)
def test_bad_flags_give_one_line_and_exit_2(tmp_path, args, message):
    result = bench("run", "--results-dir", str(tmp_path), *args)
    lines = error_lines(result.stderr)
    assert result.returncode == 2, result.stderr
    assert len(lines) == 1 and message in lines[0], lines
    assert len(lines[0]) < 400, "an error quotes a short excerpt of a bad value, never all of it"
    assert "Traceback" not in result.stderr
    assert not any(tmp_path.iterdir()), "a refused run must leave no run folder"
    assert not (tmp_path.parent / "escaped").exists() and not Path("/tmp/absolute").exists()


def test_unreachable_dataset_says_how_to_get_it(tmp_path):
    if (Path.home() / ".keras" / "datasets" / "mnist.npz").exists():
        pytest.skip("MNIST is cached here; the offline message cannot show")
    result = bench("run", "--results-dir", str(tmp_path), "--dataset", "mnist", timeout=180)
    lines = [line for line in error_lines(result.stderr) if line.startswith("error:")]
    assert result.returncode == 2 and len(lines) == 1
    assert "run once on a machine with internet" in lines[0]


def _start(tmp_path: Path, backend: str, *extra: str, space: Path = SYNTHETIC_SPACE, trials: int = 5, task: str = SLOW_TASK,
           holds: Holds | None = None) -> subprocess.Popen:
    return start_bench("run", "--backend", backend, "--task", task, "--space", str(space), "--trials", str(trials), "--max-epochs", "2",
                       "--run-id", "r", "--results-dir", str(tmp_path), "--quiet", *extra, env=holds.env if holds else None)


@pytest.mark.slow
@pytest.mark.parametrize(("backend", "algorithm", "task"), [("optuna", "random", SLOW_TASK), ("keras-tuner", "random", SLOW_MIN_TASK)])
def test_sigkill_mid_trial_then_resume_loses_nothing_and_continues_the_sampler(tmp_path, backend, algorithm, task):
    """KerasTuner's case minimises its objective: the resume settles and ranks in the task's direction too."""
    space = tmp_path / "space.yaml"
    space.write_text(SYNTHETIC_SPACE.read_text())
    flags = ("--algorithm", algorithm, "--max-epochs", "4")
    holds = Holds(tmp_path / "holds", (3, 1))
    proc = _start(tmp_path, backend, *flags, space=space, trials=7, task=task, holds=holds)
    folder = tmp_path / "r"
    held = holds.wait(3, 1)  # the kill lands in the fourth trial, after its first epoch
    running = json.loads((folder / "running_trial.json").read_text())
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL and held["pid"] == proc.pid
    assert (running["number"], running["epochs_run"], running["backend_trial_id"]) == (3, 1, held["backend_trial_id"]), running
    on_disk = json.loads((folder / "run.json").read_text())
    assert on_disk["status"] == "running" and on_disk["budget_spent"]["trials"] == 3  # written after every trial

    # A resume must continue the run it began as: other budget flags or a changed space are refused.
    other_budget = bench("run", "--resume", "r", "--results-dir", str(tmp_path), "--trials", "99")
    assert other_budget.returncode == 2 and "field 'budget'" in other_budget.stderr and "Traceback" not in other_budget.stderr
    space.write_text(SYNTHETIC_SPACE.read_text().replace("high: 0.5", "high: 0.4"))
    changed = bench("run", "--resume", "r", "--results-dir", str(tmp_path))
    assert changed.returncode == 2 and "field 'space'" in changed.stderr and "Traceback" not in changed.stderr
    space.write_text(SYNTHETIC_SPACE.read_text())

    result = bench("run", "--resume", "r", "--results-dir", str(tmp_path), "--quiet")
    assert result.returncode == 0, result.stderr
    run = json.loads((folder / "run.json").read_text())
    trials = check_run_invariants(run)  # Optuna's journal / KerasTuner's oracle agree with trials.jsonl, states included
    assert run["status"] == "complete" and len(trials) == 7
    killed = [t for t in trials if t["stopped_by"] == "killed"]
    assert [t["number"] for t in killed] == [3] and killed[0]["state"] == "failed" and killed[0]["epochs_run"] == 1, killed
    assert killed[0]["finished_at_seconds"] == pytest.approx(running["seconds"], abs=1e-3)  # what its checkpoint had spent
    complete = [t for t in trials if t["state"] == "complete"]
    pick = min if run["objective"]["direction"] == "min" else max
    assert run["objective"]["direction"] == ("min" if task == SLOW_MIN_TASK else "max")
    assert run["best_trial"]["objective"] == pick(t["objective"] for t in complete)
    assert all(t["objective"] == pick(t["objective_per_epoch"]) for t in complete)
    # The sampler continued its stream: the same seed without a kill draws exactly the same configurations, in order.
    reference = bench("run", "--backend", backend, "--task", task, *flags, "--space", str(space), "--trials", "7", "--run-id", "ref",
                      "--results-dir", str(tmp_path), "--quiet")
    assert reference.returncode == 0, reference.stderr
    expected = [json.loads(line)["params"] for line in (tmp_path / "ref" / "trials.jsonl").read_text().splitlines()]
    assert [t["params"] for t in trials] == expected
    # The killed session's seconds count: the resumed session's clock goes on from them.
    assert all(t["started_at_seconds"] >= running["seconds"] for t in trials if t["number"] > 3)
    assert run["budget_spent"]["seconds"] >= max(t["finished_at_seconds"] for t in trials) > running["seconds"]


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["optuna", "keras-tuner"])
def test_ctrl_c_keeps_finished_trials_and_resume_finishes_the_budget(tmp_path, backend):
    holds = Holds(tmp_path / "holds", (2, 1))
    proc = _start(tmp_path, backend, holds=holds)
    trials_file = tmp_path / "r" / "trials.jsonl"
    holds.wait(2, 1)  # Ctrl-C lands in the third trial, after its first epoch
    proc.send_signal(signal.SIGINT)
    holds.release_all()
    proc.communicate(timeout=120)
    assert proc.returncode == 130
    run = json.loads((tmp_path / "r" / "run.json").read_text())
    kept = [json.loads(line) for line in trials_file.read_text().splitlines()]
    assert run["status"] == "interrupted" and [t["number"] for t in kept] == [0, 1, 2]
    assert run["budget_spent"]["trials"] == len(kept)
    # The trial cut short by Ctrl-C is recorded as failed, as the backend's own storage records it (check_run_invariants).
    assert kept[2]["state"] == "failed" and kept[2]["stopped_by"] == "interrupted" and kept[2]["epochs_run"] >= 1
    assert all(t["stopped_by"] != "interrupted" for t in kept[:2])
    check_run_invariants(run)

    result = bench("run", "--resume", "r", "--results-dir", str(tmp_path), "--quiet")
    assert result.returncode == 0, result.stderr
    run = json.loads((tmp_path / "r" / "run.json").read_text())
    trials = [json.loads(line) for line in trials_file.read_text().splitlines()]
    assert run["status"] == "complete" and len(trials) == 5 and run["budget_spent"]["trials"] == 5
    assert [t["number"] for t in trials] == list(range(5))
    assert trials[: len(kept)] == kept
    assert run["resumed_with"]
    check_run_invariants(run)
    again = bench("run", "--resume", "r", "--results-dir", str(tmp_path))
    assert again.returncode == 2 and "already complete" in again.stderr


@pytest.mark.slow
def test_third_party_backend_plugs_in_through_an_entry_point(tmp_path):
    site = install_plugin(tmp_path / "site")
    env = {"PYTHONPATH": f"{ROOT}{os.pathsep}{site}"}

    listed = bench("list", env=env)
    assert listed.returncode == 0 and "backend first-values: test plugin" in listed.stdout

    result = bench("run", "--backend", "first-values", "--space", TINY, "--train-subset", "200", "--trials", "2",
                   "--max-epochs", "1", "--run-id", "p", "--results-dir", str(tmp_path / "res"), "--quiet", env=env)
    assert result.returncode == 0, result.stderr
    trials = [json.loads(line) for line in (tmp_path / "res" / "p" / "trials.jsonl").read_text().splitlines()]
    assert [t["state"] for t in trials] == ["complete", "complete"]
    assert all(t["params"]["conv1_filters"] == 4 and t["params"]["dense"] == 16 for t in trials)


@pytest.mark.slow
def test_third_party_task_plugs_in_through_an_entry_point(tmp_path):
    site = install_plugin(tmp_path / "site")
    env = {"PYTHONPATH": f"{ROOT}{os.pathsep}{site}"}
    listed = bench("list", env=env)
    assert listed.returncode == 0 and "plugin-curves: installed (tiny_task:plugin_task)" in listed.stdout
    result = bench("run", "--task", "plugin-curves", "--backend", "keras-tuner", "--trials", "3", "--max-epochs", "2", "--run-id", "t",
                   "--results-dir", str(tmp_path / "res"), "--quiet", env=env)
    assert result.returncode == 0, result.stderr
    run = json.loads((tmp_path / "res" / "t" / "run.json").read_text())
    assert run["task"]["name"] == "plugin-curves" and run["task"]["reference"] == "plugin-curves" and run["task"]["version"] == "0.1"
    assert run["space"]["name"] == "synthetic"  # the task's own space, since none was given
    assert len(check_run_invariants(run)) == 3


@pytest.mark.skipif(not DEBIAN_FASHION_MNIST.is_dir(), reason="Debian's dataset-fashion-mnist is not installed")
def test_real_fashion_mnist_subset(tmp_path):
    result = bench("run", "--dataset", "fashion_mnist", "--train-subset", "1000", "--space", TINY, "--trials", "2",
                   "--max-epochs", "2", "--run-id", "f", "--results-dir", str(tmp_path), "--quiet")
    assert result.returncode == 0, result.stderr
    run = json.loads((tmp_path / "f" / "run.json").read_text())
    dataset = run["task"]["dataset"]
    assert dataset["input_shape"] == [28, 28, 1] and dataset["test"] == 10000 and dataset["train"] + dataset["val"] == 1000
    assert "dataset-fashion-mnist" in dataset["source"]
    trials = [json.loads(line) for line in (tmp_path / "f" / "trials.jsonl").read_text().splitlines()]
    assert all(t["state"] == "complete" for t in trials)
    assert max(t["val_accuracy"] for t in trials) > 0.5  # ten classes: chance is 0.1
    assert run["objective"] == {"metric": "val_accuracy", "direction": "max"}


@pytest.mark.slow
def test_the_readme_main_command_reaches_090(tmp_path):
    """`python -m bench run --backend optuna`, as the README's first command runs it: the CNN really trains on digits.
    (KerasTuner trains for real in the early-stopping, conditional-space, regression and README-example tests.) How long it
    takes is the speed suite's to measure, not a test's."""
    result = bench("run", "--backend", "optuna", cwd=tmp_path, timeout=900)
    assert result.returncode == 0, result.stderr
    (folder,) = (tmp_path / "results").iterdir()
    run = json.loads((folder / "run.json").read_text())
    trials = [json.loads(line) for line in (folder / "trials.jsonl").read_text().splitlines()]
    assert run["status"] == "complete" and len(trials) == run["budget"]["trials"] == 10
    assert run["best_trial"]["val_accuracy"] == run["best_trial"]["objective"] > 0.9
    assert "best params" in result.stdout and "test_accuracy" in result.stdout


BROKEN_TASKS = {
    "build returns no model": ("build=lambda params: None", "build() returned NoneType, not a Keras model"),
    "metric never logged": ("build=build, objective=Objective('val_auc', 'max')",
                            "the model's epoch logs have no 'val_auc' (they have: "),
    "data is not splits": ("build=build, data=lambda: (1, 2)", "its data function returned tuple, not a bench.task.Splits"),
    "bad direction": ("build=build, objective=Objective('val_accuracy', 'up')", "objective direction 'up': use 'max' or 'min'"),
}


@pytest.mark.parametrize("case", list(BROKEN_TASKS))
def test_a_task_that_breaks_the_interface_gets_one_line_and_exit_2(tmp_path, case):
    fields, message = BROKEN_TASKS[case]
    (tmp_path / "broken.py").write_text(f"""
import numpy as np
from bench.task import Objective, Splits, Task

def build(params):
    import keras
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(2, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model

x, y = np.zeros((8, 2), "float32"), np.arange(8) % 2
task = Task(**{{**dict(name="broken", data=Splits(x, y, x, y, x, y), params=("units",)), **dict({fields})}})
""")
    space = tmp_path / "space.yaml"
    space.write_text("name: s\nparameters:\n- {name: units, type: int, low: 1, high: 4}\n")
    result = bench("run", "--task", "broken:task", "--space", str(space), "--trials", "2", "--max-epochs", "1",
                   "--results-dir", str(tmp_path / "res"), "--run-id", "b", cwd=tmp_path)
    lines = error_lines(result.stderr)
    assert result.returncode == 2, result.stderr
    assert len(lines) == 1 and message in lines[0], lines
    assert "Traceback" not in result.stderr
    if case == "metric never logged":  # found by the first epoch: that trial is recorded as failed, and the run stops
        run = json.loads((tmp_path / "res" / "b" / "run.json").read_text())
        trials = check_run_invariants(run)
        assert run["status"] == "crashed" and [t["state"] for t in trials] == ["failed"]
        assert "val_auc" in trials[0]["error"]
