"""The task interface's value types refuse what breaks them, in one line; pure checks, no training."""

from __future__ import annotations

import numpy as np
import pytest

from bench.run.runner import task_identity
from bench.task import Objective, Splits, Task, TaskError
from bench.task.registry import _takes_options, check_reference

X, Y = np.zeros((4, 2), "float32"), np.arange(4)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"metric": "accuracy"}, "name a validation metric as Keras logs it"),
    ({"metric": "val_"}, "name a validation metric"),
    ({"direction": "up"}, "objective direction 'up': use 'max' or 'min'"),
])
def test_bad_objectives_are_refused(kwargs, message):
    with pytest.raises(TaskError, match=message):
        Objective(**kwargs)


@pytest.mark.parametrize(("direction", "values", "best"), [("max", [0.2, 0.9, 0.5], 0.9), ("min", [0.2, 0.9, 0.05], 0.05)])
def test_objective_better_and_sort_key_follow_the_direction(direction, values, best):
    objective = Objective("val_x", direction)
    assert max(values, key=objective.sort_key) == best
    current = None
    for value in values:
        if objective.better(value, current):
            current = value
    assert current == best and not objective.better(float("nan"), current)
    assert objective.test_metric == "test_x"


@pytest.mark.parametrize(("arrays", "message"), [
    ((X.tolist(), Y, X, Y, X, Y), "must be numpy arrays"),
    ((X, Y[:3], X, Y, X, Y), "the train split needs as many targets as inputs"),
    ((X, Y, X[:0], Y[:0], X, Y), "the val split needs as many targets as inputs, at least one"),
    ((X, Y, X, Y, np.array([["a"], [1], [None], [2]], dtype=object), Y), "the test split holds Python objects"),
])
def test_bad_splits_are_refused(arrays, message):
    with pytest.raises(TaskError, match=message):
        Splits(*arrays)


def test_splits_fingerprint_tells_contents_apart_and_a_train_subset_keeps_val_and_test():
    a = Splits(X, Y, X, Y, X, Y)
    assert a.fingerprint() == Splits(X.copy(), Y.copy(), X, Y, X, Y).fingerprint()
    assert a.fingerprint() != Splits(X + 1, Y, X, Y, X, Y).fingerprint()
    sub = Splits(np.arange(10.0)[:, None], np.arange(10), X, Y, X, Y).with_train_subset(4)
    assert len(sub.y_train) == 4 and len(set(sub.y_train)) == 4 and sub.facts["train_subset"] == 4 and len(sub.y_val) == 4


@pytest.mark.parametrize(("fields", "message"), [
    ({"name": ""}, "give the task a non-empty name"),
    ({"build": 3}, "build must be a function"),
    ({"data": [1, 2]}, "data must be a bench.task.Splits"),
    ({"params": "units"}, "params must be a list of parameter names"),
    ({"objective": "val_accuracy"}, "objective must be a bench.task.Objective"),
    ({"batch_size": 0}, "batch_size must be a positive integer"),
])
def test_bad_tasks_are_refused(fields, message):
    with pytest.raises(TaskError, match=message):
        Task(**{"name": "t", "data": Splits(X, Y, X, Y, X, Y), "build": lambda params: None, **fields})


def test_a_space_may_tune_only_what_the_task_reads():
    task = Task(name="t", data=Splits(X, Y, X, Y, X, Y), build=lambda params: None, params=("units", "lr"))
    assert task.check_space(["units"]) == []
    (problem,) = task.check_space(["units", "dense"])
    assert "'dense', which task t does not read (it reads: units, lr)" in problem


def _none() -> None: ...
def _options(options) -> None: ...  # noqa: ANN001
def _defaulted(seed=0) -> None: ...  # noqa: ANN001
def _keyword_only(*, options) -> None: ...  # noqa: ANN001


@pytest.mark.parametrize(("factory", "takes"), [(_none, False), (_options, True), (_defaulted, False), (_keyword_only, False)])
def test_a_factory_gets_the_options_only_when_it_asks_for_one_argument(factory, takes):
    assert _takes_options(factory) is takes


def test_unknown_task_names_are_refused_without_importing_anything():
    check_reference("cnn")
    check_reference("some_module:task")
    with pytest.raises(TaskError, match="unknown task 'nope'; known: cnn, mlp-regression, mlp-classification, synthetic"):
        check_reference("nope")
    # In a fresh interpreter (this one has imported everything already): no heavy library, and no task module, is loaded.
    code = ("import sys\nfrom bench.task.registry import check_reference\ncheck_reference('cnn'); check_reference('some_module:task')\n"
            "try:\n    check_reference('nope')\nexcept Exception:\n    pass\n"
            "print(sorted(m for m in ('tensorflow', 'keras', 'optuna', 'keras_tuner', 'sklearn', 'some_module', 'bench.task.cnn') "
            "if m in sys.modules))")
    import subprocess
    import sys

    from tests.helpers import ROOT

    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]", done.stdout


def test_a_run_recorded_before_tasks_were_pluggable_is_the_cnn_task():
    dataset = {"name": "digits", "fingerprint": "abc"}
    old = {"model": "cnn", "dataset": dataset, "objective": "val_accuracy at the trial's best epoch", "patience": None}
    new = {"name": "cnn", "version": "1", "reference": "cnn", "description": "reworded later",
           "objective": {"metric": "val_accuracy", "direction": "max"}, "params": list(__import__("bench.task.cnn_model", fromlist=["x"]).DEFAULTS),
           "dataset": dataset}
    assert task_identity(old) == task_identity(new)
    assert task_identity(new) != task_identity({**new, "version": "2"})
