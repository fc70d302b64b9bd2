"""The contract every tunebench backend meets, as one pytest suite (the way Optuna's `testing/pytest_samplers.py` works).

A backend's own tests subclass `BackendConformance` and say what to run; the tests then run the backend's native loop on
the zero-cost `synthetic` task through `bench run`'s public API (`bench.run.run_tuning`), so every property is checked
on the backend's own storage and files, not on training (tests/bench trains the CNN for real):

    from backends.conformance import BackendConformance

    class TestMyBackend(BackendConformance):
        backend = "my-backend"              # its registered name (built-in or entry point)
        algorithms = ("first", "second")    # every algorithm that must run and record two 2-epoch trials

Needs pytest (a test dependency); nothing here is imported by `bench run` itself.
"""

from __future__ import annotations

import json
import math
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest

from backends.base import StoredTrial
from search_space import CategoricalParam, FixedParam, FloatParam, IntParam, SearchSpace, save_space

RunFn = Callable[..., dict[str, Any]]

TASK = "synthetic"  # zero training cost; its params are those below
SLOW_TASK = "backends.conformance:synthetic_with_slow_epochs"  # a user task (module:attr), for time budgets


def synthetic_with_slow_epochs(options: Any) -> Any:
    """The synthetic task with 0.3 s epochs of 5 batches: a time budget (or a kill) lands inside a trial, as with real training."""
    from bench.task.synthetic import make_synthetic_task

    return make_synthetic_task(options, epoch_seconds=0.3, batches_per_epoch=5)


def synthetic_loss_with_slow_epochs(options: Any) -> Any:
    """The same, scored by its validation loss, minimised: a task whose objective goes down."""
    import dataclasses

    from bench.task import Objective

    task = synthetic_with_slow_epochs(options)
    return dataclasses.replace(task, name=f"{task.name}-loss", objective=Objective("val_loss", "min"))
TINY_SPACE = SearchSpace(name="tiny", params=(
    IntParam(name="units", low=32, high=128, step=32),
    FixedParam(name="n_layers", value=2),
    FloatParam(name="dropout", low=0.0, high=0.4, step=0.1),
    CategoricalParam(name="optimizer", choices=("adam", "sgd")),
    FloatParam(name="learning_rate", low=1e-3, high=3e-2, log=True),
    FixedParam(name="batch_size", value=64),
))
GRID_SPACE = SearchSpace(name="tiny_grid", params=(
    IntParam(name="units", low=32, high=64, step=32),
    FixedParam(name="n_layers", value=2),
    CategoricalParam(name="optimizer", choices=("adam", "sgd")),
    CategoricalParam(name="learning_rate", choices=(0.003, 0.01)),
    FixedParam(name="batch_size", value=64),
))
FAILING_SPACE = SearchSpace(name="failing", description="units 0 fails at build time; learning rate 30 makes the loss NaN in the first epoch", params=(
    CategoricalParam(name="units", choices=(0, 64)),
    CategoricalParam(name="learning_rate", choices=(30.0, 0.003)),
    FixedParam(name="batch_size", value=64),
))


def read_trials(run: dict[str, Any]) -> list[dict[str, Any]]:
    """The trials a run recorded, in order."""
    path = Path(run["folder"]) / "trials.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def run_in_process(results_dir: Path, *, backend: str, space: str | None = None, task: str = TASK, trials: int | None = 2,
                   max_epochs: int = 2, epoch_budget: int | None = None, time_budget: float | None = None,
                   **config: Any) -> dict[str, Any]:
    """One `bench run` in this process (TensorFlow imported once per test session); returns its run record."""
    from bench.run import Budget, RunConfig, run_tuning

    budget = Budget(trials=trials, max_epochs=max_epochs, epoch_budget=epoch_budget, time_budget=time_budget)
    return run_tuning(RunConfig(backend=backend, task=task, space=space, results_dir=str(results_dir), budget=budget, **config))


def du_bytes(path: Path, *, apparent: bool = False) -> int:
    """`du -s` of a folder, in bytes: an independent measure of what a run says it left on disk."""
    flags = ["-s", "-b"] if apparent else ["-s", "-B1"]
    out = subprocess.run(["du", *flags, str(path)], capture_output=True, text=True, check=True).stdout
    return int(out.split()[0])


def _proc_status_bytes(key: str) -> int | None:
    """A memory figure of this process from /proc/self/status (Linux), in bytes."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(f"{key}:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def _backend(run: dict[str, Any]) -> Any:
    from backends.registry import get_backend

    return get_backend(run["backend"])


def stored_trials(run: dict[str, Any]) -> list[StoredTrial]:
    """A finished run's trials as its backend's own storage holds them (Backend.stored_trials)."""
    return _backend(run).stored_trials(run)


def _same_value(a: Any, b: Any) -> bool:
    if isinstance(a, float) or isinstance(b, float):
        return a == pytest.approx(b, rel=1e-9, abs=1e-12)
    return a == b


def check_against_backend_storage(run: dict[str, Any], trials: list[dict[str, Any]], stored: list[StoredTrial]) -> None:
    """Every trial tunebench recorded is the backend's trial: same count, state, params and score; the same best trial."""
    assert len(stored) == len(trials), f"the backend stored {len(stored)} trials, tunebench recorded {len(trials)}"
    by_id = {s.backend_trial_id: s for s in stored}
    assert len(by_id) == len(stored)
    objectives = run.get("objectives") or []
    for trial in trials:
        mine = by_id[trial["backend_trial_id"]]
        assert mine.state == trial["state"], (trial["number"], mine.state, trial["state"])
        if trial["state"] == "complete" and objectives:  # every objective as the backend stored it
            assert mine.values is not None and set(mine.values) == set(trial["objectives"]), (trial["number"], mine.values)
            for name, value in trial["objectives"].items():
                assert mine.values[name] == pytest.approx(value, rel=1e-6), (trial["number"], name, mine.values[name], value)
            if _backend(run).capabilities_of(run["algorithm"]).multi.startswith("scalarised"):  # the score is the signed sum, unweighted
                signed = sum((1 if o["direction"] == "min" else -1) * trial["objectives"][o["name"]] for o in objectives)
                assert mine.value == pytest.approx(signed, rel=1e-6), (trial["number"], mine.value, signed)
        elif trial["state"] == "complete":
            assert mine.value == pytest.approx(trial["objective"], rel=1e-6), (trial["number"], mine.value, trial["objective"])
        for name, value in mine.params.items():
            if name in trial["params"]:
                assert _same_value(value, trial["params"][name]), (trial["number"], name, value, trial["params"][name])
        if mine.params and trial["params"]:
            assert set(mine.params) & set(trial["params"]), (trial["number"], mine.params, trial["params"])
        if _backend(run).storage_keeps_time and trial["stopped_by"] != "killed":  # the backend's own clock
            # The trial trained inside the backend's own span of it.
            assert mine.seconds is not None, (trial["number"], "the backend kept no start and end time")
            # Only the lower bound: the backend's datetimes follow the wall clock, which a machine may step (seen in CI:
            # a stored span exceeded our monotonic wall time by up to 1.6 s), so an upper bound would test the clock.
            assert trial["train_seconds"] <= mine.seconds + 0.05, (trial, mine)
    if objectives:
        check_pareto_front(run, trials)
        return
    complete = [s for s in stored if s.state == "complete" and s.value is not None]
    if complete:
        direction = run["objective"]["direction"]
        best_value = (max if direction == "max" else min)(s.value for s in complete)
        assert run["best_trial"]["objective"] == pytest.approx(best_value, rel=1e-6)
        best_ids = {s.backend_trial_id for s in complete if s.value == pytest.approx(best_value, rel=1e-6)}
        recorded_best = next(t for t in trials if t["number"] == run["best_trial"]["number"])
        assert recorded_best["backend_trial_id"] in best_ids
    else:
        assert run["best_trial"] is None


def check_pareto_front(run: dict[str, Any], trials: list[dict[str, Any]]) -> None:
    """run.json's Pareto trials are exactly the complete trials no other dominates (pairwise, here), and, where the
    backend's storage computes a front, its trials."""
    objectives = run["objectives"]

    def worse_or_equal(a: dict[str, float], b: dict[str, float]) -> bool:  # a is nowhere better than b
        return all((a[o["name"]] <= b[o["name"]]) if o["direction"] == "max" else (a[o["name"]] >= b[o["name"]]) for o in objectives)

    complete = [t for t in trials if t["state"] == "complete"]
    expected = [t["number"] for t in complete
                if not any(worse_or_equal(t["objectives"], u["objectives"]) and t["objectives"] != u["objectives"] for u in complete)]
    recorded = [p["number"] for p in run["pareto_trials"]]
    assert recorded == expected, (recorded, expected)
    for point in run["pareto_trials"]:
        assert point["values"] == next(t["objectives"] for t in trials if t["number"] == point["number"])
    backend = _backend(run)
    if backend.storage_keeps_front:
        assert recorded == backend.stored_pareto_front(run)


def check_run_invariants(run: dict[str, Any]) -> list[dict[str, Any]]:
    """What must hold after any run, read back from its folder (and the backend's storage where tunebench can read it).

    Returns the recorded trials.
    """
    folder = Path(run["folder"])
    stored_run = json.loads((folder / "run.json").read_text())
    trials = read_trials(run)
    spent = stored_run["budget_spent"]
    numbers = [t["number"] for t in trials]
    distributed = any(t.get("worker") for t in trials) or (stored_run.get("config") or {}).get("workers", 1) > 1
    if distributed:  # workers append as their trials end: numbers are unique, in the order trials were claimed
        assert len(set(numbers)) == len(numbers) and all(0 <= n < len(trials) + 8 for n in numbers), numbers
    else:
        assert numbers == list(range(len(trials)))
    assert spent["epochs"] == sum(t["epochs_run"] for t in trials), "epochs charged to the budget differ from the trials' epochs"
    assert spent["trials"] == len(trials) == sum(stored_run["trials_by_state"].values())  # the guard's count vs the records
    for t in trials:
        assert t["epochs_run"] == len(t["objective_per_epoch"]) == len(t["val_loss_per_epoch"]), t
        assert t[stored_run["objective"]["metric"]] == t["objective"], t  # also under the metric's own name
        assert t["wall_seconds"] + 1e-3 >= t["train_seconds"] + t["eval_seconds"], t
        if t["stopped_by"] != "killed":  # a killed trial's record holds what its last checkpoint saved, not its epochs' times
            assert len(t["epoch_seconds"]) == t["epochs_run"] and sum(t["epoch_seconds"]) <= t["train_seconds"] + 1e-3 * (1 + t["epochs_run"]), t
            if t["epochs_run"] >= 2:  # start-up recomputed: build + what the first epoch took beyond the median later one
                extra = t["epoch_seconds"][0] - float(np.median(t["epoch_seconds"][1:]))
                assert t["startup_seconds"] == pytest.approx(t["build_seconds"] + max(0.0, extra), abs=2e-4), t
            else:
                assert t["startup_seconds"] is None
    # The test split is scored exactly for the complete trials that beat every earlier complete one (in finishing order),
    # so the run's best trial always has its test score and no other trial's evaluation is paid for.
    maximise = stored_run["objective"]["direction"] == "max"
    running_best = None
    for t in trials if not distributed else ():
        beats = t["state"] == "complete" and t["objective"] is not None and not math.isnan(t["objective"]) and (
            running_best is None or (t["objective"] > running_best if maximise else t["objective"] < running_best))
        assert (t["test_objective"] is not None) == beats, (t, running_best)
        if beats:
            running_best = t["objective"]
    if distributed:  # a worker scores its trial if it beats the best recorded when it ends: the run's best always is
        assert all(t["state"] == "complete" for t in trials if t["test_objective"] is not None)
        if stored_run.get("best_trial"):
            assert stored_run["best_trial"]["test_objective"] is not None
    budget = stored_run["budget"]
    if budget["epoch_budget"] is not None:  # several workers: each other worker's epoch in flight when the budget ran out
        in_flight = max(0, int(stored_run.get("workers") or 1) - 1) if distributed else 0
        assert spent["epochs"] <= budget["epoch_budget"] + in_flight, (spent, budget)
    if budget["trials"] is not None:
        assert spent["trials"] <= budget["trials"]
    work_dir = Path(stored_run["work_dir"])
    finished = stored_run["status"] in ("complete", "interrupted")
    if finished and not work_dir.exists():  # a backend that writes nothing (the test plugin)
        assert stored_run["disk_bytes_final"] == stored_run["disk_apparent_bytes_final"] == stored_run["disk_bytes_peak"] == 0
    elif finished:  # `du` of the folder, now: the run's final figure is what the disk really holds
        assert stored_run["disk_bytes_final"] == du_bytes(work_dir)
        assert stored_run["disk_apparent_bytes_final"] == du_bytes(work_dir, apparent=True)
    assert not (folder / "running_trial.json").exists() or stored_run["status"] == "running"
    assert not list((folder / "running").glob("*.json")) or stored_run["status"] == "running"
    try:
        stored = _backend(stored_run).stored_trials(stored_run)
    except NotImplementedError:  # a backend that cannot read its storage back (the test plugin keeps none)
        return trials
    check_against_backend_storage(stored_run, trials, stored)
    return trials


class BackendConformance:
    """Subclass with `backend` (and the class attributes below) to run the whole contract on one backend."""

    backend: ClassVar[str]
    algorithms: ClassVar[tuple[str | None, ...]] = (None,)  # None: the backend's default
    grid_algorithms: ClassVar[frozenset[str]] = frozenset({"grid"})  # need a fully discrete space
    budget_cases: ClassVar[tuple[tuple[str | None, str | None], ...]] = ((None, None),)  # (algorithm, pruner)
    failure_algorithm: ClassVar[str | None] = None
    multi_objective_algorithms: ClassVar[tuple[str | None, ...]] = (None,)  # run with two objectives (or refused, as `list` says)
    algorithm_packages: ClassVar[dict[str, str]] = {}  # an algorithm's optional package: skipped without it, except in CI
    seeded: ClassVar[bool] = True  # another seed draws other params (False for deterministic backends)
    writes_to_disk: ClassVar[bool] = True  # the backend keeps a storage or checkpoints in its folder
    time_budget_seconds: ClassVar[float] = 4.0  # long enough for the backend's first trial to start (Ray starts itself first)

    def pytest_generate_tests(self, metafunc: pytest.Metafunc) -> None:
        if "algorithm" in metafunc.fixturenames:
            metafunc.parametrize("algorithm", self.algorithms, ids=[a or "default" for a in self.algorithms])
        if "multi_algorithm" in metafunc.fixturenames:
            metafunc.parametrize("multi_algorithm", self.multi_objective_algorithms,
                                 ids=[a or "default" for a in self.multi_objective_algorithms])
        if "budget_case" in metafunc.fixturenames:
            metafunc.parametrize("budget_case", self.budget_cases, ids=[f"{a or 'default'}-{p or 'no-pruner'}" for a, p in self.budget_cases])

    @pytest.fixture
    def run_tiny(self, tmp_path: Path) -> RunFn:
        """`run_tiny(space=..., trials=..., ...)`: one in-process `bench run` of this backend; its invariants are checked."""

        def run(*, space: SearchSpace = TINY_SPACE, **kwargs: Any) -> dict[str, Any]:
            self.skip_without_package(kwargs.get("algorithm"))
            space_file = tmp_path / f"{space.name}.yaml"
            save_space(space, space_file)
            result = run_in_process(tmp_path / "results", backend=self.backend, space=str(space_file), **kwargs)
            check_run_invariants(result)
            return result

        return run

    def skip_without_package(self, algorithm: str | None) -> None:
        import importlib.util
        import os

        from backends.registry import get_backend

        for module in get_backend(self.backend).missing_modules():  # the backend's own extra (ray-tune: ray)
            if os.environ.get("CI"):
                pytest.fail(f"{self.backend} needs {module}, which CI installs (.ci/run)")
            pytest.skip(f"{self.backend} needs {module}, not installed here")
        package = self.algorithm_packages.get(algorithm or "")
        if package and importlib.util.find_spec(package) is None:
            if os.environ.get("CI"):
                pytest.fail(f"{self.backend} {algorithm} needs {package}, which CI installs (.ci/run)")
            pytest.skip(f"{self.backend} {algorithm} needs {package}, not installed here")

    def test_several_objectives_are_searched_and_recorded(self, run_tiny: RunFn, multi_algorithm: str | None) -> None:
        """Two objectives: every trial keeps both (as the backend stored them), run.json the Pareto trials; an algorithm that
        cannot search several is refused in one line, as `bench list` says."""
        from backends.registry import get_backend
        from bench.errors import UsageError

        backend = get_backend(self.backend)
        can = backend.capabilities_of(multi_algorithm or backend.default_algorithm)
        if can.multi == "no":
            with pytest.raises(UsageError, match="cannot search several objectives"):
                run_tiny(algorithm=multi_algorithm, objectives="val_score:max,params:min")
            return
        run = run_tiny(algorithm=multi_algorithm, objectives="val_score:max,params:min", trials=6, max_epochs=2)
        trials = read_trials(run)  # check_run_invariants compared each value with the backend's storage and the front
        assert run["objectives"] == [{"name": "val_score", "direction": "max", "kind": "validation metric at the trial's scored epoch"},
                                     {"name": "params", "direction": "min", "kind": "the model's parameter count"}]
        assert run["search"] == (can.multi_how or can.multi)
        complete = [t for t in trials if t["state"] == "complete"]
        assert complete and run["pareto_trials"]
        for t in complete:  # both from the scored epoch's model: its logged metric, and the model's own parameter count
            assert t["objectives"]["val_score"] == t["objective"] == t["logs_per_epoch"][t["best_epoch"] - 1]["val_score"]
            assert t["objectives"]["params"] == t["param_count"] > 0
        assert all(t["objectives"] is None for t in trials if t["state"] != "complete")

    def test_every_algorithm_runs_and_records_every_trial(self, run_tiny: RunFn, algorithm: str | None) -> None:
        space = GRID_SPACE if algorithm in self.grid_algorithms else TINY_SPACE
        run = run_tiny(algorithm=algorithm, space=space)
        trials = read_trials(run)
        assert run["status"] == "complete" and run["backend"] == self.backend
        assert [t["number"] for t in trials] == [0, 1]
        for trial in trials:
            assert trial["state"] == "complete", trial["error"]
            assert set(trial["params"]) == {p.name for p in space}
            assert space.violations(trial["params"]) == []
            assert 0.0 <= trial["objective"] <= 1.0 and (trial["test_objective"] is None or 0.0 <= trial["test_objective"] <= 1.0)
            assert trial["epochs_run"] == len(trial["objective_per_epoch"]) == 2
            assert trial["best_epoch"] == trial["objective_per_epoch"].index(max(trial["objective_per_epoch"])) + 1
            assert trial["objective"] == max(trial["objective_per_epoch"])
            assert trial["train_seconds"] > 0 and trial["overhead_seconds"] >= 0
            assert 0 < trial["callback_seconds"] < trial["fit_seconds"]
            assert (trial["disk_bytes"] > 0) == self.writes_to_disk and trial["memory_rss_bytes"] > 50 * 2**20
        assert run["budget_spent"]["trials"] == 2 and run["budget_spent"]["epochs"] == 4
        # In-process: the kernel's high-water mark for this process (/proc/self/status, read here) bounds the recorded peak,
        # which came from getrusage; the kernel's counters lag the live RSS by a few pages, hence the slack. (A library that
        # runs each trial in a process of its own: each trial's figure is that process's, the run's peak their largest.)
        high_water = None if _backend(run).trials_in_own_processes else _proc_status_bytes("VmHWM")
        if _backend(run).trials_in_own_processes:
            assert run["memory_peak_bytes"] == max(t["memory_rss_bytes"] for t in trials)
        if high_water is not None:
            assert 0.95 * high_water <= run["memory_peak_bytes"] <= high_water + 8 * 2**20
            assert all(t["memory_rss_bytes"] <= high_water + 32 * 2**20 for t in trials)

    def test_epoch_budget_of_20_is_never_exceeded(self, run_tiny: RunFn, budget_case: tuple[str | None, str | None]) -> None:
        algorithm, pruner = budget_case
        run = run_tiny(algorithm=algorithm, pruner=pruner, trials=None, max_epochs=9, epoch_budget=20)
        trials = read_trials(run)
        assert sum(t["epochs_run"] for t in trials) == run["budget_spent"]["epochs"] == 20
        assert run["stop_reason"] == "epochs"
        assert all(t["epochs_run"] <= 9 for t in trials)

    def test_time_budget_ends_the_run_at_it(self, run_tiny: RunFn) -> None:
        """No trial starts after the budget; the one running when it ran out stops at its next batch (how long that takes
        on a loaded machine is not this test's business: the speed suite measures)."""
        budget = self.time_budget_seconds
        # Enough epochs (0.3 s each) that no trial can finish inside the budget: the one running at its end is cut by it.
        # (With 50 epochs, a Ray trial that started early completed before the budget and the next one claimed nothing.)
        max_epochs = math.ceil(2 * budget / 0.3)
        import keras  # noqa: F401  (imported before the run's clock starts, as earlier tests do: alone, its import took the 4 s)
        run = run_tiny(trials=None, max_epochs=max_epochs, time_budget=budget, task=SLOW_TASK)
        assert run["stop_reason"] == "time" and run["budget_spent"]["seconds"] >= budget
        trials = read_trials(run)
        last = trials[-1] if trials else None
        assert last and last["stopped_by"] == "time_budget" and last["finished_at_seconds"] >= budget, last
        assert all(t["started_at_seconds"] < budget for t in trials), [t["started_at_seconds"] for t in trials]

    def test_crashing_trials_are_recorded_as_failed_and_the_run_goes_on(self, run_tiny: RunFn) -> None:
        run = run_tiny(algorithm=self.failure_algorithm, space=FAILING_SPACE, trials=4, max_epochs=1)
        trials = read_trials(run)
        assert len(trials) == 4 and run["status"] == "complete"
        outcomes = set()
        for trial in trials:
            units, learning_rate = trial["params"]["units"], trial["params"]["learning_rate"]
            if units == 0:
                assert trial["state"] == "failed" and "units" in trial["error"] and trial["epochs_run"] == 0, trial
                outcomes.add("build")
            elif learning_rate == 30.0:
                # The epoch that broke ran and was charged to the budget: it is the trial's one epoch.
                assert trial["state"] == "failed" and "loss became nan" in trial["error"] and trial["epochs_run"] == 1, trial
                outcomes.add("nan")
            else:
                assert trial["state"] == "complete", trial
                outcomes.add("complete")
        assert outcomes & {"build", "nan"}, "no trial failed: the failing space did not fail"
        if self.seeded:  # a searching backend meets both failures and a success in four trials of this 2x2 space
            assert outcomes == {"build", "nan", "complete"}, outcomes
        failed = sum(t["state"] == "failed" for t in trials)
        assert run["trials_by_state"] == {"complete": 4 - failed, "pruned": 0, "failed": failed}

    def test_seed_0_repeats_and_another_seed_differs(self, run_tiny: RunFn) -> None:
        first_run = run_tiny(trials=2, max_epochs=1, seed=0)
        first, second = read_trials(first_run), read_trials(run_tiny(trials=2, max_epochs=1, seed=0))
        assert [t["params"] for t in first] == [t["params"] for t in second]
        assert first_run["seeds"]["run"] == 0
        if self.seeded:
            other = read_trials(run_tiny(trials=2, max_epochs=1, seed=1))
            assert [t["params"] for t in first] != [t["params"] for t in other]
