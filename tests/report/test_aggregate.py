"""Aggregation over cases, checked against independent computations: scipy's ranks and Friedman test, Demšar's
published critical values, scikit-posthocs' Nemenyi test, and counts done by hand."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from bench.report import aggregate

# Eight cases x four algorithms, larger is better, with ties inside some cases (a hand-made table).
VALUES = pd.DataFrame(
    [[0.91, 0.93, 0.93, 0.88],
     [0.71, 0.75, 0.70, 0.70],
     [0.50, 0.52, 0.55, 0.49],
     [0.80, 0.80, 0.80, 0.80],
     [0.66, 0.69, 0.72, 0.60],
     [0.97, 0.96, 0.99, 0.95],
     [0.33, 0.41, 0.39, 0.35],
     [0.58, 0.61, 0.64, 0.61]],
    index=[f"case{i}" for i in range(8)], columns=["a", "b", "c", "d"])


def test_ranks_are_scipys_rankdata_of_each_case_best_first():
    ranks = aggregate.average_ranks(VALUES)
    for case, row in VALUES.iterrows():
        assert ranks.loc[case].tolist() == pytest.approx(stats.rankdata(-row.to_numpy()).tolist())
    assert ranks.loc["case3"].tolist() == [2.5] * 4  # a full tie shares the mean rank


def test_friedman_statistic_and_p_value_are_scipys():
    result = aggregate.friedman(VALUES)
    expected = stats.friedmanchisquare(*(VALUES[c].to_numpy() for c in VALUES.columns))
    assert result.statistic == pytest.approx(expected.statistic, rel=1e-12)
    assert result.p_value == pytest.approx(expected.pvalue, rel=1e-9)
    assert (result.algorithms, result.cases) == (4, 8)
    n, k, chi2 = 8, 4, expected.statistic
    assert result.iman_davenport == pytest.approx((n - 1) * chi2 / (n * (k - 1) - chi2))
    assert result.iman_davenport_p == pytest.approx(stats.f.sf(result.iman_davenport, k - 1, (k - 1) * (n - 1)))


def test_friedman_without_ties_matches_scipy_too():
    rng = np.random.default_rng(3)
    values = pd.DataFrame(rng.normal(size=(12, 5)), columns=list("vwxyz"))
    values["z"] += 1.0  # one clearly better algorithm
    result = aggregate.friedman(values)
    expected = stats.friedmanchisquare(*(values[c].to_numpy() for c in values.columns))
    assert result.statistic == pytest.approx(expected.statistic) and result.p_value == pytest.approx(expected.pvalue)
    assert result.mean_ranks.index[0] == "z"


@pytest.mark.parametrize(("k", "q"), [(2, 1.960), (3, 2.343), (4, 2.569), (5, 2.728), (6, 2.850), (7, 2.949), (8, 3.031),
                                      (9, 3.102), (10, 3.164)])
def test_nemenyi_critical_values_are_demsars_table(k, q):
    assert aggregate.nemenyi_q(k) == pytest.approx(q, abs=1e-3)  # Demšar (2006), Table 5(a), alpha 0.05, 3 decimals


def test_critical_difference_of_demsars_worked_example():
    # Demšar's section 3.2.2: four classifiers on 14 data sets, CD = 2.569 * sqrt(4 * 5 / (6 * 14)) = 1.25.
    assert aggregate.critical_difference(4, 14) == pytest.approx(1.25, abs=0.005)


def test_pairs_further_apart_than_the_cd_are_those_scikit_posthocs_calls_significant():
    rng = np.random.default_rng(7)
    values = pd.DataFrame(rng.normal(size=(20, 4)) + np.array([0.0, 0.3, 1.0, 1.6]), columns=list("pqrs"))
    result = aggregate.friedman(values)
    p_values = aggregate.nemenyi_p_values(values)
    outcomes = []
    for a in values.columns:
        for b in values.columns:
            if a < b:
                apart = abs(result.mean_ranks[a] - result.mean_ranks[b])
                if abs(apart - result.critical_difference) > 0.05:  # not at the boundary
                    assert (apart > result.critical_difference) == (p_values.loc[a, b] < 0.05), (a, b)
                    outcomes.append(apart > result.critical_difference)
    assert len(outcomes) >= 5 and set(outcomes) == {True, False}  # both kinds of pair were checked


def _results(rows: list[tuple[str, str, int, float]], direction: str) -> pd.DataFrame:
    return pd.DataFrame([{"case": c, "label": l, "seed": s, "best": v, "direction": direction} for c, l, s, v in rows])


def test_normalised_score_is_zero_at_the_references_mean_and_one_at_the_best_seen():
    results = _results([("x", "ref", 0, 0.6), ("x", "ref", 1, 0.8), ("x", "alg", 0, 0.9), ("x", "alg", 1, 0.75)], "max")
    scored = aggregate.normalised_scores(results, {"ref": "ref", "alg": "ref"}).set_index(["label", "seed"])["score"]
    # reference = mean(0.6, 0.8) = 0.7; case best = 0.9
    assert scored[("alg", 0)] == pytest.approx(1.0) and scored[("alg", 1)] == pytest.approx((0.75 - 0.7) / 0.2)
    assert scored[("ref", 0)] == pytest.approx(-0.5) and scored[("ref", 1)] == pytest.approx(0.5)


def test_normalised_score_of_a_minimised_case_follows_its_direction():
    results = _results([("y", "ref", 0, 2.0), ("y", "alg", 0, 1.0), ("y", "alg", 1, 1.5)], "min")
    scored = aggregate.normalised_scores(results, {"ref": "ref", "alg": "ref"}).set_index(["label", "seed"])["score"]
    assert scored[("alg", 0)] == pytest.approx(1.0) and scored[("alg", 1)] == pytest.approx(0.5) and scored[("ref", 0)] == 0.0


def test_a_case_where_nothing_beat_the_reference_has_no_score():
    results = _results([("z", "ref", 0, 1.0), ("z", "alg", 0, 1.0)], "max")
    assert aggregate.normalised_scores(results, {"ref": "ref", "alg": "ref"})["score"].isna().all()


def test_score_summary_averages_seeds_first_then_cases():
    results = pd.concat([
        _results([("x", "ref", 0, 0.0), ("x", "alg", 0, 1.0), ("x", "alg", 1, 0.5)], "max"),
        _results([("y", "ref", 0, 10.0), ("y", "alg", 0, 0.0), ("y", "alg", 1, 10.0), ("y", "alg", 2, 10.0)], "min"),
    ])
    summary = aggregate.score_summary(aggregate.normalised_scores(results, {"ref": "ref", "alg": "ref"})).set_index("label")
    # x: alg scores 1.0 and 0.5 -> 0.75; y: 1.0, 0.0, 0.0 -> 1/3; mean over the two cases
    assert summary.loc["alg", "mean normalised score"] == pytest.approx((0.75 + 1 / 3) / 2)
    assert summary.loc["alg", "cases scored"] == 2 and "2 cases" in summary.loc["alg", "interval"]


def test_profile_counts_pairs_that_reached_each_target_by_each_time():
    events = pd.DataFrame([
        {"label": "a", "target": 0.5, "seconds": 3.0, "epochs": 4.0},
        {"label": "a", "target": 0.5, "seconds": 1.0, "epochs": 2.0},
        {"label": "a", "target": 0.5, "seconds": math.nan, "epochs": math.nan},
        {"label": "a", "target": 0.5, "seconds": 3.0, "epochs": 6.0},
    ])
    curve = aggregate.profile(events, "seconds")
    assert aggregate.share_reached(curve, "seconds", "a", 0.5, 0.5) == 0.0
    assert aggregate.share_reached(curve, "seconds", "a", 0.5, 1.0) == 0.25
    assert aggregate.share_reached(curve, "seconds", "a", 0.5, 2.9) == 0.25
    assert aggregate.share_reached(curve, "seconds", "a", 0.5, 3.0) == 0.75
    assert aggregate.share_reached(curve, "seconds", "a", 0.5, 1e9) == 0.75  # one pair never reached it
    epochs = aggregate.profile(events, "epochs")
    assert epochs["epochs"].tolist() == [2.0, 4.0, 6.0] and epochs["share"].tolist() == [0.25, 0.5, 0.75]


def test_reach_follows_finish_order_the_direction_and_skips_failed_trials():
    from bench.report.load import RunSet
    from bench.task.base import Objective

    runs = pd.DataFrame([{"run_id": "ref-s0", "label": "ref", "seed": 0, "best_objective": 2.0},
                         {"run_id": "alg-s0", "label": "alg", "seed": 0, "best_objective": 1.0}])
    trials = pd.DataFrame([
        {"run_id": "ref-s0", "label": "ref", "seed": 0, "number": 0, "objective": 2.0, "finished_at_seconds": 5.0, "cumulative_epochs": 3},
        {"run_id": "alg-s0", "label": "alg", "seed": 0, "number": 0, "objective": None, "finished_at_seconds": 1.0, "cumulative_epochs": 1},
        {"run_id": "alg-s0", "label": "alg", "seed": 0, "number": 2, "objective": 1.8, "finished_at_seconds": 2.0, "cumulative_epochs": 3},
        {"run_id": "alg-s0", "label": "alg", "seed": 0, "number": 1, "objective": 1.9, "finished_at_seconds": 3.0, "cumulative_epochs": 6},
        {"run_id": "alg-s0", "label": "alg", "seed": 0, "number": 3, "objective": 1.0, "finished_at_seconds": 4.0, "cumulative_epochs": 9},
    ])
    runset = RunSet(runs=runs, trials=trials, raw_runs=[], trials_by_run={}, objective=Objective("val_loss", "min"))
    results = _results([("m", "ref", 0, 2.0), ("m", "alg", 0, 1.0)], "min").assign(run_id=["ref-s0", "alg-s0"])
    scored = aggregate.normalised_scores(results, {"ref": "ref", "alg": "ref"})
    events = aggregate.reach_events({"m": runset}, scored, targets=(0.1, 0.25, 1.0)).set_index(["label", "target"])
    # alg's running best, in finish order: failed, 1.8 (closes 0.2 of the gap 2.0 -> 1.0), still 1.8, then 1.0 (all of it)
    assert events.loc[("alg", 0.1), ["seconds", "epochs"]].tolist() == [2.0, 3.0]
    assert events.loc[("alg", 0.25), ["seconds", "epochs"]].tolist() == [4.0, 9.0]
    assert events.loc[("alg", 1.0), ["seconds", "epochs"]].tolist() == [4.0, 9.0]
    assert events.loc[("ref", 0.1), ["seconds", "epochs"]].isna().all()  # the reference itself scores 0: it reaches no positive target
