"""Ratio gates that decide with confidence: an interval over paired measurements, not a median of a few.

A gate holds when the whole interval lies at or below its limit and fails only when the whole interval lies above it;
while the interval straddles the limit it is undecided, and the caller adds pairs (or rounds) up to a stated cap. At the
cap an interval that still straddles the limit passes (no evidence of a regression at that confidence), and says so.

Two gates: `decide` over paired ratios measured in one run (the harness ratio), and `decide_against_baseline` over the
rounds of a measure now against the rounds of a saved baseline (`bench speed --compare`).
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
    over: str = "pairs"  # what `ratios` are: "pairs", or "rounds" (each round now over the baseline's geometric mean)

    @property
    def holds(self) -> bool:
        return self.verdict != "fail"

    def text(self) -> str:
        pairs = ", ".join(f"{r:.4f}" for r in self.ratios)
        mean = "mean" if self.over == "pairs" else "ratio"
        return (f"{self.verdict}: {mean} {self.mean:.4f}, {CONFIDENCE:.0%} interval [{self.low:.4f}, {self.high:.4f}] against limit "
                f"{self.limit:.3f} over {len(self.ratios)} {self.over} ({pairs})")


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


@dataclass(frozen=True)
class Rounds:
    """One measure's timings, as the gate reads them: log-seconds' count, mean and variance (raw rounds where pytest-benchmark
    kept them; else moment-matched from its mean and standard deviation, for a baseline saved without its data)."""

    n: int
    log_mean: float
    log_var: float  # 0 for a single round
    values: tuple[float, ...] = ()

    @classmethod
    def of(cls, values: Sequence[float]) -> Rounds:
        logs = [math.log(v) for v in values]
        n = len(logs)
        mean = sum(logs) / n
        var = sum((x - mean) ** 2 for x in logs) / (n - 1) if n > 1 else 0.0
        return cls(n, mean, var, tuple(float(v) for v in values))

    @classmethod
    def from_stats(cls, mean: float, stddev: float, rounds: int) -> Rounds:
        cv2 = (stddev / mean) ** 2 if rounds > 1 else 0.0  # a lognormal with this mean and standard deviation
        return cls(rounds, math.log(mean) - math.log1p(cv2) / 2, math.log1p(cv2))

    def plus(self, values: Sequence[float]) -> Rounds:
        """These rounds and `values` (more rounds of the same measure, run again)."""
        if not self.values and self.n:
            raise ValueError("rounds known only by their statistics cannot take more rounds")
        return Rounds.of([*self.values, *values])


def decide_against_baseline(now: Rounds, baseline: Rounds, limit: float, *, cap: int) -> GateDecision:
    """The ratio of geometric-mean times now/baseline with the pooled two-sample t interval on log-seconds (Student; both
    sides' round-to-round noise pooled, so a side of one round still counts); `limit` as a ratio (1.15: 15% slower).
    Undecided while the interval straddles the limit and `now` has fewer than `cap` rounds; no interval (one round each
    side) is undecided too."""
    from scipy import stats

    ratio = math.exp(now.log_mean - baseline.log_mean)
    shown = tuple(v / math.exp(baseline.log_mean) for v in now.values) or (ratio,)
    dof = now.n + baseline.n - 2
    if dof < 1:
        low, high = 0.0, math.inf
    else:
        pooled = ((now.n - 1) * now.log_var + (baseline.n - 1) * baseline.log_var) / dof
        half = float(stats.t.ppf(0.5 + CONFIDENCE / 2, dof)) * math.sqrt(pooled * (1 / now.n + 1 / baseline.n))
        low, high = ratio * math.exp(-half), ratio * math.exp(half)
    if high <= limit:
        verdict = "pass"
    elif low > limit:
        verdict = "fail"
    else:
        verdict = "pass" if now.n >= cap else "undecided"
    return GateDecision(shown, limit, ratio, low, high, verdict, over="rounds")
