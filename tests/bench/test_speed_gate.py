"""The ratio gate decides on an interval over pairs: checked against scipy's own t interval, and on tables of pairs."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from bench.speed.gate import CONFIDENCE, Rounds, decide, decide_against_baseline


@pytest.mark.parametrize(("ratios", "verdict"), [
    ([1.005, 1.006, 1.004, 1.007], "pass"),  # wholly below 1.02
    ([1.05, 1.06, 1.055, 1.052], "fail"),  # wholly above
    ([1.00, 1.04, 1.01, 1.03], "undecided"),  # straddles it: more pairs
    ([1.00, 1.04, 1.01, 1.03, 1.00, 1.04, 1.01, 1.03], "pass"),  # straddles it at the cap: no regression shown
    ([1.018, 1.022, 1.019, 1.021], "undecided"),  # a median of 1.02 decides nothing
])
def test_gate_verdicts(ratios, verdict):
    assert decide(ratios, 1.02, cap=8).verdict == verdict


@pytest.mark.parametrize("seed", range(5))
def test_gate_interval_is_scipys_t_interval(seed):
    ratios = np.random.default_rng(seed).normal(1.01, 0.01, size=6)
    decision = decide(list(ratios), 1.02, cap=12)
    low, high = stats.t.interval(CONFIDENCE, len(ratios) - 1, loc=ratios.mean(), scale=stats.sem(ratios))
    assert (decision.low, decision.high) == pytest.approx((low, high), rel=1e-12)
    assert decision.mean == pytest.approx(ratios.mean(), rel=1e-12)


def test_gate_needs_two_pairs():
    with pytest.raises(ValueError, match="at least 2 pairs"):
        decide([1.0], 1.02, cap=4)


@pytest.mark.parametrize("seed", range(5))
def test_baseline_gate_interval_is_scipys_two_sample_t_interval_on_log_seconds(seed):
    rng = np.random.default_rng(seed)
    now, before = rng.lognormal(0.1, 0.05, size=4), rng.lognormal(0.0, 0.05, size=3)
    decision = decide_against_baseline(Rounds.of(now), Rounds.of(before), 1.15, cap=5)
    interval = stats.ttest_ind(np.log(now), np.log(before)).confidence_interval(CONFIDENCE)  # pooled variance: Student's
    assert (decision.low, decision.high) == pytest.approx((np.exp(interval.low), np.exp(interval.high)), rel=1e-12)
    assert decision.mean == pytest.approx(np.exp(np.log(now).mean() - np.log(before).mean()), rel=1e-12)


@pytest.mark.parametrize(("now", "before", "cap", "verdict"), [
    ([1.00, 1.02, 0.98], [1.0, 1.01, 0.99], 5, "pass"),  # the same speed: wholly below 15% slower
    ([1.50, 1.52, 1.48], [1.0, 1.01, 0.99], 5, "fail"),  # 50% slower, wholly above
    ([1.10, 1.30, 1.00], [1.0, 1.20, 0.90], 5, "undecided"),  # noisy rounds around 10%: run it again
    ([1.10, 1.30, 1.00, 1.10, 1.30], [1.0, 1.20, 0.90], 5, "pass"),  # still straddling at the cap: no regression shown
    ([3.0], [1.0], 5, "undecided"),  # one round each side: no interval at all
])
def test_baseline_gate_verdicts(now, before, cap, verdict):
    assert decide_against_baseline(Rounds.of(now), Rounds.of(before), 1.15, cap=cap).verdict == verdict


def test_a_baseline_kept_without_its_rounds_is_read_from_its_mean_and_deviation():
    values = np.array([1.0, 1.1, 0.95, 1.05])
    summary = Rounds.from_stats(float(values.mean()), float(values.std(ddof=1)), len(values))
    assert summary.log_mean == pytest.approx(np.log(values).mean(), abs=2e-3)  # a lognormal's moments match the log rounds'
    assert summary.log_var == pytest.approx(np.log(values).var(ddof=1), rel=0.05)
    assert decide_against_baseline(Rounds.of(values * 1.5), summary, 1.15, cap=5).verdict == "fail"
