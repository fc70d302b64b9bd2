"""The tuning-speed suite (pytest-benchmark). Run it through `python -m bench speed`; excluded from the plain test run."""

from __future__ import annotations

import statistics

import pytest

from backends.base import Backend
from backends.registry import all_backends
from bench.run.execution import ExecutionSettings
from bench.speed import measures as m
from bench.speed.suite.conftest import QUICK, ROUNDS

# The built-ins and any installed plugin, each with what it requires installed (ray-tune: the ray extra): each brings its
# own measures and hand-driven search.
BACKENDS = [b for b in all_backends() if not b.missing_modules()]
OWN_MEASURES = [(b.name, measure) for b in BACKENDS for measure in b.speed_measures(QUICK)]
HAND_DRIVEN = [b.name for b in BACKENDS if type(b).hand_driven_search is not Backend.hand_driven_search]


def _per_trial(benchmark, n_trials: int) -> None:
    mean = benchmark.stats.stats.mean
    benchmark.extra_info.update(unit="ms/trial", value=1000 * mean / n_trials, n_trials=n_trials)


@pytest.mark.benchmark(group="backend")
@pytest.mark.parametrize(("backend", "measure"), OWN_MEASURES, ids=[f"{name}-{measure.name}" for name, measure in OWN_MEASURES])
def test_backend_measure(benchmark, tmp_path, request, backend, measure):
    """A backend's own measure (Backend.speed_measures): its loop per trial with nothing to train, its storages."""
    resources = {need: request.getfixturevalue(f"{need}_server")() for need in measure.needs}  # postgres: a fresh database
    result = benchmark.pedantic(measure.run, args=(tmp_path, resources), rounds=measure.rounds, iterations=1,
                                warmup_rounds=measure.warmup_rounds)
    if measure.seconds_per_trial:
        benchmark.extra_info.update(unit="ms/trial", value=1000 * result, n_trials=measure.trials)
    else:
        _per_trial(benchmark, measure.trials)


WORKER_TRIALS = 12 if QUICK else 100


@pytest.mark.benchmark(group="workers")
@pytest.mark.parametrize("workers", [1, 2, 4])
@pytest.mark.parametrize("backend", [b.name for b in BACKENDS if b.distributed])
def test_bench_run_workers_overhead_per_trial(benchmark, tmp_path, backend, workers):
    """`bench run --workers N` on the zero-cost synthetic task at 1, 2 and 4 worker processes: the backend's shared search
    (its storage or server) and the shared budget, per trial."""
    seconds = benchmark.pedantic(m.bench_run_workers_zero_cost, args=(backend, workers, WORKER_TRIALS, tmp_path), rounds=1, iterations=1)
    benchmark.extra_info.update(unit="ms/trial", value=1000 * seconds, n_trials=WORKER_TRIALS, workers=workers)


SCALE = {b.name: b.speed_scale_trials[0 if QUICK else 1] for b in BACKENDS}


@pytest.mark.benchmark(group="scale")
@pytest.mark.parametrize("backend", list(SCALE))
def test_bench_run_at_scale_on_the_synthetic_task(benchmark, tmp_path, backend):
    """`bench run --task synthetic` end to end at each backend's scale (Backend.speed_scale_trials): what a trial costs
    when training costs nothing (the backend's loop plus tunebench's harness), and how that cost grows with the trial count."""
    n_trials = SCALE[backend]
    result = benchmark.pedantic(m.bench_run_at_scale, args=(backend, n_trials, tmp_path), rounds=1, iterations=1)
    assert result.trials == n_trials
    benchmark.extra_info.update(unit="ms/trial", value=result.per_trial_ms, n_trials=n_trials, backend_ms=result.backend_ms,
                                harness_ms=result.harness_ms, first_tenth_ms=result.first_tenth_ms,
                                last_tenth_ms=result.last_tenth_ms, slope_ms_per_100_trials=result.slope_ms_per_100_trials,
                                process_startup_seconds=result.process_startup_seconds,
                                command_seconds=result.wall_seconds)


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
    model, _ = m.warm_model(digits)
    run = m.epochs_with_trainer if how == "trainer" else m.epochs_with_plain_fit
    benchmark.pedantic(run, args=(model, digits, EPOCHS, batch), rounds=max(2, ROUNDS), iterations=1)
    samples = len(digits.y_train) * EPOCHS
    benchmark.extra_info.update(unit="samples/s", value=samples / benchmark.stats.stats.mean, batch_size=batch)


EXECUTION_SETTINGS = [(1, "off"), (1, "on"), (8, "off"), (8, "on")]  # steps per execution, XLA


@pytest.mark.benchmark(group="execution")
@pytest.mark.parametrize(("steps_per_execution", "jit_compile"), EXECUTION_SETTINGS, ids=[f"spe{s}-jit-{j}" for s, j in EXECUTION_SETTINGS])
def test_execution_settings_throughput(benchmark, digits, steps_per_execution, jit_compile):
    """What --steps-per-execution and --jit-compile do to training speed on this machine (the first epoch, tracing and
    compilation included, is reported apart)."""
    batch = m.TASK_PARAMS["batch_size"]
    model, first_epoch = m.warm_model(digits, execution=ExecutionSettings(steps_per_execution, jit_compile))
    assert model.steps_per_execution == steps_per_execution and model.jit_compile == (jit_compile == "on")
    measure = f"execution-spe{steps_per_execution}-jit-{jit_compile}"
    benchmark.pedantic(m.epochs_with_plain_fit, args=(model, digits, EPOCHS, batch, measure), rounds=max(2, ROUNDS), iterations=1)
    samples = len(digits.y_train) * EPOCHS
    benchmark.extra_info.update(unit="samples/s", value=samples / benchmark.stats.stats.mean, first_epoch_seconds=first_epoch,
                                later_epoch_seconds=benchmark.stats.stats.mean / EPOCHS)


HARNESS_TRIALS, HARNESS_EPOCHS = 4, 4  # all of digits' training split: ~2 s trials
HARNESS_LIMIT = 1.02
HARNESS_PAIRS = 4 if QUICK else 6  # to start with; more, 2 at a time, while the interval straddles the limit ...
HARNESS_PAIRS_CAP = HARNESS_PAIRS if QUICK else 12  # ... up to this many (then no regression is shown at 95%: it passes);
# quick mode (the CI smoke) adds none: it decides on its 4 pairs, and a straddling interval passes there


@pytest.mark.benchmark(group="harness")
@pytest.mark.parametrize("backend", HAND_DRIVEN)
def test_harness_adds_at_most_2_percent(benchmark, tmp_path, backend):
    """`bench run` against the same search driven by hand (the tutorials' Optuna objective; KerasTuner's HyperModel and
    `tuner.search`): same space, same random search, same data, same storage (Optuna's journal file, KerasTuner's oracle
    files: the backend's own cost, billed to it in reports too), in turn in one fresh process.

    On a small CPU the training time of identical trials varies by +-15% from run to run, which would drown a 2% limit.
    Both sides time their `model.fit` calls; bench also times its own callbacks inside fit. The ratio asserted is
    1 + (bench's seconds outside fit + in its callbacks - hand's seconds outside fit) / hand wall: everything the
    harness adds (records, storage, test evaluation, best-weights copies, budget checks), none of the training noise.
    Each side starts on a settled heap (`speed_measures.settled`). The raw wall-time ratio is reported too.
    """
    from bench.speed.gate import decide

    def pair_ratio(s: dict) -> float:
        return 1 + ((s["bench_wall"] - s["bench_fit"]) - (s["hand_wall"] - s["hand_fit"])) / s["hand_wall"]

    samples = benchmark.pedantic(m.harness_pairs_in_fresh_process, args=(backend, HARNESS_PAIRS, HARNESS_TRIALS, HARNESS_EPOCHS, tmp_path),
                                 rounds=1, iterations=1)
    decision = decide([pair_ratio(s) for s in samples], HARNESS_LIMIT, cap=HARNESS_PAIRS_CAP)
    while decision.verdict == "undecided":  # the interval straddles the limit: more pairs, in another fresh process
        samples += m.harness_pairs_in_fresh_process(backend, 2, HARNESS_TRIALS, HARNESS_EPOCHS, tmp_path / f"more-{len(samples)}")
        decision = decide([pair_ratio(s) for s in samples], HARNESS_LIMIT, cap=HARNESS_PAIRS_CAP)
    added = statistics.mean((s["bench_wall"] - s["bench_fit"]) - (s["hand_wall"] - s["hand_fit"]) for s in samples)
    hand_wall = statistics.mean(s["hand_wall"] for s in samples)
    raw = statistics.median(s["bench_wall"] / s["hand_wall"] for s in samples)
    print(f"harness gate, {backend}: {decision.text()}")
    benchmark.extra_info.update(unit="ratio", value=decision.mean, raw_wall_ratio=raw, harness_added_seconds=added, hand_seconds=hand_wall,
                                trials=HARNESS_TRIALS, trial_startup_seconds=statistics.mean(s["trial_startup_seconds"] for s in samples),
                                startup_share=statistics.mean(s["startup_share"] for s in samples), gate=decision.text(),
                                interval=[decision.low, decision.high],
                                pairs_added_seconds=[round((s["bench_wall"] - s["bench_fit"]) - (s["hand_wall"] - s["hand_fit"]), 3) for s in samples])
    assert decision.holds, f"bench run adds {added:.2f} s to a search of {hand_wall:.2f} s: {decision.text()} (raw wall ratio {raw:.3f})"
