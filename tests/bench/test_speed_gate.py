"""The ratio gate decides on an interval over pairs: checked against scipy's own t interval, and on tables of pairs."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from bench.speed.gate import CONFIDENCE, decide


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
