"""`bench compare` plans its matrix from the flags and hands every task and budget flag on to each `bench run`."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.cli.compare import Cell, _run_args, plan_cells
from bench.cli.main import build_parser
from bench.errors import UsageError

EVERY_SHARED_FLAG = ["--dataset", "idx", "--data-dir", "/data/fashion", "--train-subset", "300", "--space", "seed_cnn",
                     "--patience", "2", "--trials", "7", "--max-epochs", "4", "--epoch-budget", "20", "--time-budget", "90",
                     "--device", "gpu:1", "--keras-backend", "jax"]


def test_every_task_and_budget_flag_reaches_each_run_unchanged():
    compare = build_parser().parse_args(["compare", "--seed", "4", *EVERY_SHARED_FLAG])
    cell = Cell("optuna", "random", "median", 5)
    argv = _run_args(compare, cell, Path("/tmp/runs"))
    assert argv[1:4] == ["-m", "bench", "run"]
    run = build_parser().parse_args(argv[3:])
    assert compare.forwarded_flags, "compare forwards no flags"
    for action in compare.forwarded_flags:
        assert getattr(run, action.dest) == getattr(compare, action.dest), action.dest
    assert (run.backend, run.algorithm, run.pruner, run.seed, run.run_id) == ("optuna", "random", "median", 5, cell.run_id)
    assert run.quiet and run.results_dir == "/tmp/runs"


@pytest.mark.parametrize(("algorithms", "seeds", "first", "expected"), [
    (None, 2, 0, ["optuna-tpe-s0", "optuna-tpe-s1", "keras-tuner-random-s0", "keras-tuner-random-s1"]),
    (["random"], 1, 7, ["optuna-random-s7", "keras-tuner-random-s7"]),
    (["optuna:tpe+median", "keras-tuner:hyperband"], 2, 3,
     ["optuna-tpe+median-s3", "optuna-tpe+median-s4", "keras-tuner-hyperband-s3", "keras-tuner-hyperband-s4"]),
])
def test_matrix_is_backend_algorithm_by_consecutive_seeds(algorithms, seeds, first, expected):
    cells = plan_cells(["optuna", "keras-tuner"], algorithms, seeds, first)
    assert [c.run_id for c in cells] == expected


@pytest.mark.parametrize(("algorithms", "message"), [
    (["optuna:nope"], "optuna has no algorithm 'nope'"),
    (["tpe"], "--algorithms names nothing for backend 'keras-tuner'"),
    (["optuna:tpe+sometimes", "keras-tuner:random"], "optuna has no pruner 'sometimes'"),
    (["other:tpe"], "backend 'other' is not among --backends"),
])
def test_bad_algorithm_specs_are_refused_by_name(algorithms, message):
    with pytest.raises(UsageError, match=message):
        plan_cells(["optuna", "keras-tuner"], algorithms, 1)


def test_compare_forwards_no_trial_count_when_only_an_epoch_budget_is_given():
    compare = build_parser().parse_args(["compare", "--epoch-budget", "60"])
    argv = _run_args(compare, Cell("keras-tuner", "hyperband", None, 0), Path("/tmp/runs"))
    assert "--trials" not in argv and argv[argv.index("--epoch-budget") + 1] == "60"
    from bench.cli.flags import config_from_args

    run = build_parser().parse_args(argv[3:])
    assert config_from_args(run).budget.trials is None and config_from_args(run).budget.epoch_budget == 60
