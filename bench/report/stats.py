"""Interval estimates over seeds and paired significance tests (scipy)."""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations

import numpy as np
import pandas as pd

ALPHA = 0.05


MIN_SEEDS_FOR_BOOTSTRAP = 5  # below this a bootstrap cannot reach outside the few values seen: show their range instead


@dataclass(frozen=True)
class Interval:
    """An interval over seeds and what it is (`kind`, printed next to it)."""

    low: float
    high: float
    kind: str


def seed_interval(values: np.ndarray | list[float] | pd.Series, *, confidence: float = 0.95, seed: int = 0) -> Interval:
    """Below MIN_SEEDS_FOR_BOOTSTRAP values: their min–max. From there: a BCa bootstrap interval of the mean."""
    from scipy import stats

    data = np.asarray([v for v in values if v is not None and not np.isnan(v)], dtype=float)
    n = len(data)
    if n == 0:
        return Interval(float("nan"), float("nan"), "no values")
    if n == 1:
        return Interval(float("nan"), float("nan"), "one seed: no interval")
    if n < MIN_SEEDS_FOR_BOOTSTRAP or np.all(data == data[0]):
        return Interval(float(data.min()), float(data.max()), f"min–max over {n} seeds")
    result = stats.bootstrap((data,), np.mean, confidence_level=confidence, n_resamples=4000, method="BCa",
                             random_state=np.random.default_rng(seed))
    low, high = float(result.confidence_interval.low), float(result.confidence_interval.high)
    if not (np.isfinite(low) and np.isfinite(high)):  # BCa undefined (e.g. a jackknife with no spread): say so
        return Interval(float(data.min()), float(data.max()), f"min–max over {n} seeds (BCa undefined)")
    return Interval(low, high, f"{confidence:.0%} BCa bootstrap of the mean, n={n}")


def min_seeds_for_wilcoxon(alpha: float = ALPHA) -> int:
    """Smallest n whose exact two-sided Wilcoxon test can reach p < alpha (2 / 2**n < alpha)."""
    n = 1
    while 2.0 / 2**n >= alpha:
        n += 1
    return n


@dataclass(frozen=True)
class PairResult:
    a: str
    b: str
    n_seeds: int
    mean_difference: float
    p_value: float
    verdict: str


def paired_test(a: str, b: str, a_values: pd.Series, b_values: pd.Series, *, alpha: float = ALPHA,
                higher_is_better: bool = True) -> PairResult:
    """Wilcoxon signed-rank test on the values of two labels, paired by seed."""
    from scipy import stats

    joined = pd.concat([a_values.rename("a"), b_values.rename("b")], axis=1, join="inner").dropna()
    n = len(joined)
    diff = (joined["a"] - joined["b"]).to_numpy(dtype=float)
    mean_diff = float(diff.mean()) if n else float("nan")
    needed = min_seeds_for_wilcoxon(alpha)
    if n == 0:
        return PairResult(a, b, 0, mean_diff, float("nan"), "no common seeds")
    if np.all(diff == 0):
        return PairResult(a, b, n, 0.0, 1.0, "identical on every seed")
    p_value = float(stats.wilcoxon(joined["a"], joined["b"], alternative="two-sided").pvalue)
    if n < needed:
        verdict = f"too few seeds to claim a difference ({n} paired; a Wilcoxon test needs ≥{needed} for p<{alpha})"
    elif p_value < alpha:
        verdict = f"{a if (mean_diff > 0) == higher_is_better else b} better (p<{alpha})"
    else:
        verdict = f"no significant difference (p≥{alpha})"
    return PairResult(a, b, n, mean_diff, p_value, verdict)


def pairwise_table(runs: pd.DataFrame, column: str = "best_objective", *, alpha: float = ALPHA, higher_is_better: bool = True,
                   name: str | None = None) -> pd.DataFrame:
    """Every pair of labels: the Wilcoxon test of `column` paired by seed; `name` is what the column holds (a metric name)."""
    by_label = {label: group.set_index("seed")[column] for label, group in runs.groupby("label", sort=True)}
    rows = [paired_test(a, b, by_label[a], by_label[b], alpha=alpha, higher_is_better=higher_is_better)
            for a, b in combinations(sorted(by_label), 2)]
    return pd.DataFrame(
        [{"a": r.a, "b": r.b, "paired seeds": r.n_seeds, f"mean {name or column} a-b": r.mean_difference,
          "Wilcoxon p": r.p_value, "verdict": r.verdict} for r in rows]
    )
