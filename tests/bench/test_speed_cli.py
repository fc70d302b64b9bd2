"""The speed suite runs (quick mode, a smoke check) and its baseline gate names what regressed."""

from __future__ import annotations

import re

import pytest

from tests.helpers import bench, error_lines

MEASURE_LINE = re.compile(r"^(?P<name>\S+)\s+(?P<value>[0-9.]+)\s+(?P<unit>\S+)( \(.*\))?$")


@pytest.fixture(scope="module")
def baselines(tmp_path_factory):
    return tmp_path_factory.mktemp("baselines")


@pytest.mark.slow
def test_quick_speed_suite_prints_every_measure_and_the_harness_ratio_holds(baselines):
    result = bench("speed", "--quick", "--save", "smoke", "--baselines", str(baselines), timeout=900)
    measures = {m["name"]: (float(m["value"]), m["unit"]) for line in result.stdout.splitlines() if (m := MEASURE_LINE.match(line))}
    assert result.returncode == 0, result.stdout + result.stderr
    for algorithm in ("tpe", "random", "grid", "cmaes", "qmc"):
        assert measures[f"optuna_overhead_per_trial[{algorithm}-100]"][1] == "ms/trial"
    for algorithm in ("random", "bayesian", "hyperband", "grid"):
        assert measures[f"keras_tuner_oracle_overhead_per_trial[{algorithm}-100]"][1] == "ms/trial"
        assert measures[f"keras_tuner_search_per_trial_with_trivial_model[{algorithm}]"][1] == "ms/trial"
    assert measures["trial_startup"][1] == "s"
    assert measures["epoch_throughput[trainer]"][1] == measures["epoch_throughput[plain-fit]"][1] == "samples/s"
    ratio, unit = measures["harness_adds_at_most_5_percent"]
    assert unit == "ratio" and 0 < ratio <= 1.05
    assert list(baselines.rglob("*_smoke.json"))


def test_baseline_gate_passes_unchanged_and_names_a_slowed_measure(tmp_path):
    common = ("speed", "--quick", "--select", "trial_startup", "--baselines", str(tmp_path))
    saved = bench(*common, "--save", "base", timeout=600)
    assert saved.returncode == 0, saved.stdout + saved.stderr
    # Separate processes on a shared 2-core CI machine: an unchanged start-up has measured up to 64% slower (mean) than
    # its baseline, so the gate here is wide and the injected delay (5 s on ~1.3 s) lies far beyond it.
    unchanged = bench(*common, "--compare", "base", "--fail-above", "150%", timeout=600)
    assert unchanged.returncode == 0, unchanged.stdout + unchanged.stderr
    slowed = bench(*common, "--compare", "base", "--fail-above", "150%", env={"TUNEBENCH_SPEED_DELAY": "startup:5"}, timeout=600)
    assert slowed.returncode == 1
    lines = [line for line in error_lines(slowed.stderr) if "regressed" in line]
    assert len(lines) == 1 and "regressed: trial_startup: min slower by" in lines[0] and "limit 150%" in lines[0]
    missing = bench(*common, "--compare", "nothing-saved")
    assert missing.returncode == 2 and "no baseline 'nothing-saved'" in missing.stderr


def test_table_formats_each_measure_and_flags_one_whose_check_failed():
    from bench.speed_cli import measures_table

    data = {"benchmarks": [
        {"name": "test_trial_startup", "extra_info": {"value": 1.23456, "unit": "s"}, "stats": {"mean": 1.2}},
        {"name": "test_search[grid]", "extra_info": {}, "stats": {"mean": 27.05313080799897}},
        {"name": "test_harness", "extra_info": {"value": 1.028, "unit": "ratio", "raw_wall_ratio": 1.063, "harness_added_seconds": 0.27,
                                                "hand_seconds": 9.8, "trials": 4}, "stats": {"mean": 20.0}},
    ]}
    rows = measures_table(data)
    assert rows[0] == ("trial_startup", "1.235", "s")
    assert rows[1] == ("search[grid]", "27.053", "s (mean time; the measure's own check failed)")
    assert rows[2][1] == "1.028" and "raw wall ratio 1.063" in rows[2][2] and "68 ms per trial" in rows[2][2]
