"""Ratio gates that decide with confidence: an interval over paired measurements, not a median of a few.

A gate holds when the whole interval lies at or below its limit and fails only when the whole interval lies above it;
while the interval straddles the limit it is undecided, and the caller adds pairs up to a stated cap. At the cap an
interval that still straddles the limit passes (no evidence of a regression at that confidence), and says so.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

CONFIDENCE = 0.95


@dataclass(frozen=True)
class GateDecision:
    """A gate's verdict on `ratios` (one per pair): the mean, its interval, and whether it holds, fails or needs more pairs."""

    ratios: tuple[float, ...]
    limit: float
    mean: float
    low: float
    high: float
    verdict: str  # "pass", "fail", or "undecided" (add pairs)

    @property
    def holds(self) -> bool:
        return self.verdict != "fail"

    def text(self) -> str:
        pairs = ", ".join(f"{r:.4f}" for r in self.ratios)
        return (f"{self.verdict}: mean {self.mean:.4f}, {CONFIDENCE:.0%} interval [{self.low:.4f}, {self.high:.4f}] against limit "
                f"{self.limit:.3f} over {len(self.ratios)} pairs ({pairs})")


def decide(ratios: Sequence[float], limit: float, *, cap: int) -> GateDecision:
    """Student's t interval of the mean ratio (scipy); at `cap` pairs an undecided gate passes (nothing shown above the limit)."""
    from scipy import stats

    values = tuple(float(r) for r in ratios)
    if len(values) < 2:
        raise ValueError("a gate needs at least 2 pairs to state an interval")
    n = len(values)
    mean = sum(values) / n
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))
    half = float(stats.t.ppf(0.5 + CONFIDENCE / 2, n - 1)) * sd / math.sqrt(n)
    low, high = mean - half, mean + half
    if high <= limit:
        verdict = "pass"
    elif low > limit:
        verdict = "fail"
    else:
        verdict = "pass" if n >= cap else "undecided"
    return GateDecision(values, limit, mean, low, high, verdict)
