"""The tuning-speed suite (pytest-benchmark). Run it through `python -m bench speed`; excluded from the plain test run."""

from __future__ import annotations

import time

import pytest

from bench import speed_measures as m
from tests.speed.conftest import ROUNDS, SEARCH_TRIALS, TRIAL_COUNTS

OPTUNA_ALGORITHMS = ["tpe", "random", "grid", "cmaes", "qmc"]
KERAS_TUNER_ALGORITHMS = ["random", "bayesian", "hyperband", "grid"]


def _per_trial(benchmark, n_trials: int) -> None:
    mean = benchmark.stats.stats.mean
    benchmark.extra_info.update(unit="ms/trial", value=1000 * mean / n_trials, n_trials=n_trials)


@pytest.mark.benchmark(group="overhead-optuna")
@pytest.mark.parametrize("n_trials", TRIAL_COUNTS)
@pytest.mark.parametrize("algorithm", OPTUNA_ALGORITHMS)
def test_optuna_overhead_per_trial(benchmark, tmp_path, algorithm, n_trials):
    benchmark.pedantic(m.optuna_zero_cost, args=(algorithm, n_trials, tmp_path), rounds=ROUNDS, iterations=1)
    _per_trial(benchmark, n_trials)


@pytest.mark.benchmark(group="overhead-keras-tuner-oracle")
@pytest.mark.parametrize("n_trials", TRIAL_COUNTS)
@pytest.mark.parametrize("algorithm", KERAS_TUNER_ALGORITHMS)
def test_keras_tuner_oracle_overhead_per_trial(benchmark, tmp_path, algorithm, n_trials):
    done = benchmark.pedantic(m.keras_tuner_oracle_zero_cost, args=(algorithm, n_trials, tmp_path), rounds=ROUNDS, iterations=1)
    assert done == n_trials
    _per_trial(benchmark, n_trials)


@pytest.mark.benchmark(group="overhead-keras-tuner-search")
@pytest.mark.parametrize("algorithm", KERAS_TUNER_ALGORITHMS)
def test_keras_tuner_search_per_trial_with_trivial_model(benchmark, tmp_path, algorithm):
    done = benchmark.pedantic(m.keras_tuner_search_trivial, args=(algorithm, SEARCH_TRIALS, tmp_path), rounds=1, iterations=1)
    assert done >= SEARCH_TRIALS - 1
    _per_trial(benchmark, SEARCH_TRIALS)


@pytest.mark.benchmark(group="startup")
def test_trial_startup(benchmark, digits):
    m.trial_startup(digits)  # first build of the process pays one-off imports and kernel loading
    benchmark.pedantic(m.trial_startup, args=(digits,), rounds=max(3, ROUNDS), iterations=1)
    benchmark.extra_info.update(unit="s", value=benchmark.stats.stats.mean)


EPOCHS = 3


@pytest.mark.benchmark(group="throughput")
@pytest.mark.parametrize("how", ["trainer", "plain-fit"])
def test_epoch_throughput(benchmark, digits, how):
    batch = m.TASK_PARAMS["batch_size"]
    model = m.warm_model(digits)
    run = m.epochs_with_trainer if how == "trainer" else m.epochs_with_plain_fit
    benchmark.pedantic(run, args=(model, digits, EPOCHS, batch), rounds=max(2, ROUNDS), iterations=1)
    samples = len(digits.y_train) * EPOCHS
    benchmark.extra_info.update(unit="samples/s", value=samples / benchmark.stats.stats.mean, batch_size=batch)


HARNESS_TRIALS, HARNESS_EPOCHS, HARNESS_SUBSET = 4, 3, 600
HARNESS_LIMIT = 1.05


@pytest.mark.benchmark(group="harness")
def test_harness_adds_at_most_5_percent(benchmark, tmp_path):
    """`bench run` against the same Optuna search driven by hand, same trials, interleaved in this process."""
    m.hand_driven_optuna("small_cnn", 1, 1, 99, HARNESS_SUBSET)  # warm-up: imports, kernels, first tracing
    hand, ours = [], []

    def timed(fn, *args):
        start = time.perf_counter()
        fn(*args)
        return time.perf_counter() - start

    def pair() -> None:
        repeat = len(hand)
        hand.append(timed(m.hand_driven_optuna, "small_cnn", HARNESS_TRIALS, HARNESS_EPOCHS, repeat, HARNESS_SUBSET))
        ours.append(timed(m.bench_driven_optuna, tmp_path / f"r{repeat}", "small_cnn", HARNESS_TRIALS, HARNESS_EPOCHS, repeat, HARNESS_SUBSET))

    benchmark.pedantic(pair, rounds=2, iterations=1)
    ratio = min(ours) / min(hand)
    benchmark.extra_info.update(unit="ratio", value=ratio, hand_seconds=min(hand), bench_seconds=min(ours))
    assert ratio <= HARNESS_LIMIT, f"bench run took {ratio:.3f}x the hand-driven search ({min(ours):.2f} s vs {min(hand):.2f} s)"
