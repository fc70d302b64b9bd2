"""The flags `run` and `compare` share (task and budget), and how `compare` passes them on to each `bench run`."""

from __future__ import annotations

import argparse
from collections.abc import Iterable
from typing import Any, NoReturn

from bench.errors import excerpt, one_line
from bench.run.runner import MAX_SEED

BUDGET_FIELDS = ("trials", "max_epochs", "epoch_budget", "time_budget")
CONFIG_FIELDS = ("backend", "algorithm", "pruner", "task", "dataset", "data_dir", "train_subset", "space", "seed", "device", "keras_backend",
                 "steps_per_execution", "jit_compile", "patience", "objectives", "tensorboard", "workers", "devices", "storage",
                 "trials_per_worker")


class OneLineParser(argparse.ArgumentParser):
    """argparse that reports a bad flag in one line (exit 2) instead of the usage block."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {one_line(message)} (see --help)\n")


def _integer(text: str, low: int, high: int | None, expected: str) -> int:
    """`text` as an integer in [low, high] (high None: no upper bound), or an argparse error saying what was expected."""
    try:
        value = int(text)
    except ValueError:
        value = None
    if value is None or value < low or (high is not None and value > high):
        raise argparse.ArgumentTypeError(f"expected {expected}, got {excerpt(text)}")
    return value


def positive_int(text: str) -> int:
    return _integer(text, 1, None, "a positive integer")


def seed(text: str) -> int:
    return _integer(text, 0, MAX_SEED, f"a seed from 0 to {MAX_SEED}")


def seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seconds, got {excerpt(text)}") from None
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"expected positive, finite seconds, got {excerpt(text)}")
    return value


def add_task_and_budget_flags(parser: argparse.ArgumentParser) -> list[argparse.Action]:
    """Add the task and budget flags; return those that `compare` forwards unchanged to every run (all but --seed)."""
    task = parser.add_argument_group("task")
    forwarded = [
        task.add_argument("--task", help="cnn (default), mlp-regression, synthetic, an installed task, or module:attr for your own"),
        task.add_argument("--dataset", help="cnn: digits (default, offline), mnist, fashion_mnist, idx; mlp-classification: breast_cancer (default), wine"),
        task.add_argument("--data-dir", help="folder of MNIST-format IDX files (train-images-idx3-ubyte[.gz], ...)"),
        task.add_argument("--train-subset", type=positive_int, metavar="N", help="use N training examples (stratified for cnn)"),
        task.add_argument("--space", help="shipped space name or a YAML/JSON file (default: the task's own)"),
        task.add_argument("--patience", type=positive_int, help="early stopping: epochs without improvement (both backends)"),
        task.add_argument("--objectives", metavar="NAME:DIR,...",
                          help="search several objectives, e.g. val_accuracy:max,params:min (validation metrics, params, "
                               "train_seconds); Optuna searches the Pareto front, KerasTuner a sum (see `list`)"),
        task.add_argument("--tensorboard", action="store_true", default=None,
                          help="per-trial TensorBoard logs with HParams in the run folder (tensorboard --logdir RUN_OR_RESULTS)"),
    ]
    budget = parser.add_argument_group("budget (the same for every backend)")
    forwarded += [
        budget.add_argument("--trials", type=positive_int, help="trials (default: 10 when no other limit is given, else unlimited)"),
        budget.add_argument("--max-epochs", type=positive_int, help="epochs per trial (default 10)"),
        budget.add_argument("--epoch-budget", type=positive_int, help="total epochs across trials"),
        budget.add_argument("--time-budget", type=seconds, metavar="SECONDS", help="wall-clock seconds for the run"),
        budget.add_argument("--device", help="cpu (default) or gpu:N"),
        budget.add_argument("--keras-backend", choices=["tensorflow", "jax", "torch"], help="tensorflow (default), jax or torch"),
        budget.add_argument("--steps-per-execution", type=positive_int, metavar="N",
                            help="batches per compiled training step (default: as the task compiles its model, Keras's 1)"),
        budget.add_argument("--jit-compile", choices=["auto", "on", "off"],
                            help="XLA (TensorFlow, JAX) or torch.compile: auto (default, as the task compiles), on, off"),
        budget.add_argument("--workers", type=positive_int, metavar="N",
                            help="worker processes sharing the search and the budget (Optuna: its storage; KerasTuner: chief/workers)"),
        budget.add_argument("--devices", metavar="cpu|gpu:0,gpu:1,...", help="one worker per listed GPU, each pinned to it"),
        budget.add_argument("--storage", metavar="URL", help="optuna: the study in an RDB, e.g. postgresql://user@host:5432/db "
                                                               "(heartbeat on); default: the journal file in the run folder"),
        budget.add_argument("--trials-per-worker", type=positive_int, metavar="K",
                            help="replace each worker process after K trials (memory stays flat on long runs)"),
    ]
    budget.add_argument("--seed", type=seed, help="tuner seed, default 0 (compare: the first of --seeds consecutive seeds)")
    parser.add_argument("--results-dir", default="results", help="where run folders go (default results/)")
    parser.add_argument("--quiet", action="store_true", help="no live progress")
    parser.add_argument("--verbose", action="store_true", help="also show the libraries' start-up lines (TensorFlow's CUDA and CPU notices)")
    return forwarded


def forwarded_argv(args: argparse.Namespace, actions: Iterable[argparse.Action]) -> list[str]:
    """The command-line form of the given flags' values in `args` (flags left unset are left out)."""
    argv: list[str] = []
    for action in actions:
        value = getattr(args, action.dest)
        if value is True and action.nargs == 0:  # a switch (store_true)
            argv.append(action.option_strings[0])
        elif value is not None:
            argv += [action.option_strings[0], str(value)]
    return argv


def given_fields(args: argparse.Namespace) -> dict[str, Any]:
    """The run-config and budget fields the user typed (flags left unset are absent, so the defaults stay in one place)."""
    return {key: value for key in (*CONFIG_FIELDS, *BUDGET_FIELDS) if (value := getattr(args, key, None)) is not None}


def config_from_args(args: argparse.Namespace, **overrides: Any) -> Any:
    """The RunConfig the flags describe; the defaults are RunConfig's and Budget's own."""
    from bench.run.budget import Budget
    from bench.run.runner import RunConfig

    given = {**given_fields(args), **overrides}
    budget = Budget(**{k: given.pop(k) for k in BUDGET_FIELDS if k in given})
    return RunConfig(**given, budget=budget, results_dir=args.results_dir, run_id=getattr(args, "run_id", None))
