"""Aggregation over a suite's cases: normalised scores, ranks with the Friedman test and Nemenyi critical difference,
and performance profiles. Pure functions of pandas frames; each case keeps its own objective and direction.

- Normalised score (Bayesmark's): per case, (value - reference) / (case best - reference), where the reference is the
  mean over seeds of the reference search's best value on that case and the case best is the best value any run of the
  case reached. 0 is as good as the reference on average, 1 is the best seen, below 0 worse than the reference.
- Ranks (Demšar 2006, as HPOBench and CARP-S use them): per case the algorithms' mean best values over seeds are ranked,
  1 best, ties sharing their mean rank; the Friedman test asks whether the mean ranks differ more than chance; the
  Nemenyi critical difference is the gap in mean rank beyond which two algorithms differ at `alpha`.
- Performance profiles (COCO's runtime profiles): for a target t of the normalised score, the share of (case, seed)
  pairs whose best-so-far value reached the target by each point of wall time, or of epochs spent.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from bench.report.load import RunSet

ALPHA = 0.05
TARGETS = (0.25, 0.5, 0.75, 0.9, 1.0)  # shares of the gap from the reference to the case's best
REACHED_TOLERANCE = 1e-9  # a best-so-far value equal to the case's best scores exactly 1 but may differ in the last bit


def results_table(cases: Mapping[str, RunSet]) -> pd.DataFrame:
    """One row per run of every case: its label, seed, best value and the case's objective."""
    rows = []
    for case, runset in cases.items():
        for run in runset.runs.itertuples():
            rows.append({"case": case, "label": run.label, "seed": run.seed, "run_id": run.run_id,
                         "best": float("nan") if run.best_objective is None else float(run.best_objective),
                         "test": float("nan") if run.test_objective is None or pd.isna(run.test_objective) else float(run.test_objective),
                         "metric": runset.objective.metric, "direction": runset.objective.direction,
                         "wall_seconds": run.wall_seconds, "epochs": run.epochs})
    return pd.DataFrame(rows)


def _better_sign(direction: str) -> float:
    return 1.0 if direction == "max" else -1.0


def case_bounds(results: pd.DataFrame, reference_of: Mapping[str, str]) -> pd.DataFrame:
    """Per case and label: the reference value (mean over seeds of its reference's best) and the case's best value."""
    rows = []
    for case, group in results.groupby("case", sort=False):
        sign = _better_sign(group["direction"].iloc[0])
        best = sign * float((sign * group["best"]).max())
        means = group.groupby("label")["best"].mean()
        for label in group["label"].unique():
            reference = reference_of.get(label)
            rows.append({"case": case, "label": label, "reference_label": reference,
                         "reference": float(means.get(reference, float("nan"))) if reference else float("nan"), "case_best": best})
    return pd.DataFrame(rows)


def normalise(value: float, reference: float, best: float) -> float:
    """(value - reference) / (best - reference): NaN where best and reference coincide (nothing to close) or are unknown."""
    if any(map(lambda v: v is None or math.isnan(v), (value, reference, best))) or best == reference:
        return float("nan")
    return (value - reference) / (best - reference)


def normalised_scores(results: pd.DataFrame, reference_of: Mapping[str, str]) -> pd.DataFrame:
    """`results` with each run's reference, case best and normalised score."""
    bounds = case_bounds(results, reference_of)
    scored = results.merge(bounds, on=["case", "label"], how="left")
    scored["score"] = [normalise(v, r, b) for v, r, b in zip(scored["best"], scored["reference"], scored["case_best"])]
    return scored


def interval_over_cases(values: pd.Series, *, confidence: float = 0.95, seed: int = 0) -> tuple[float, float, str]:
    """A BCa bootstrap interval of the mean over cases (from 5 cases), else their range."""
    from bench.report.stats import MIN_SEEDS_FOR_BOOTSTRAP, seed_interval

    data = values.dropna()
    interval = seed_interval(data, confidence=confidence, seed=seed)
    kind = interval.kind.replace("seeds", "cases")
    if len(data) >= MIN_SEEDS_FOR_BOOTSTRAP and "BCa" in kind:
        kind = f"{confidence:.0%} BCa bootstrap over cases, n={len(data)}"
    return interval.low, interval.high, kind


def score_summary(scored: pd.DataFrame) -> pd.DataFrame:
    """Per label: the mean over cases of its mean score over seeds, an interval over cases, and each case's mean."""
    per_case = scored.groupby(["label", "case"], sort=False)["score"].mean().unstack("case")
    per_case = per_case[list(dict.fromkeys(scored["case"]))]
    rows = []
    for label, row in per_case.iterrows():
        low, high, kind = interval_over_cases(row)
        rows.append({"label": label, "mean normalised score": row.mean(), "interval low": low, "interval high": high,
                     "interval": kind, "cases scored": int(row.notna().sum()), **{f"score {c}": row[c] for c in per_case.columns}})
    return pd.DataFrame(rows).sort_values("mean normalised score", ascending=False, kind="stable").reset_index(drop=True)


def case_values(results: pd.DataFrame) -> pd.DataFrame:
    """Cases x labels: the mean over seeds of each label's best value, signed so that larger is better on every case."""
    signed = results.assign(signed=results["best"] * results["direction"].map(_better_sign))
    table = signed.groupby(["case", "label"], sort=False)["signed"].mean().unstack("label")
    return table.loc[list(dict.fromkeys(results["case"]))]


def average_ranks(values: pd.DataFrame) -> pd.DataFrame:
    """Rank each case's row (larger is better): 1 for the best, tied values sharing the mean of their ranks."""
    return values.rank(axis=1, ascending=False, method="average")


@dataclass(frozen=True)
class FriedmanResult:
    algorithms: int
    cases: int
    mean_ranks: pd.Series
    statistic: float  # Friedman's chi-square, corrected for ties
    p_value: float
    iman_davenport: float  # the F form Demšar recommends (less conservative)
    iman_davenport_p: float
    critical_difference: float  # Nemenyi, at alpha
    alpha: float
    verdict: str


def nemenyi_q(algorithms: int, alpha: float = ALPHA) -> float:
    """The Nemenyi test's critical value q_alpha: the studentized range's quantile over sqrt(2) (Demšar's Table 5)."""
    from scipy.stats import studentized_range

    return float(studentized_range.ppf(1 - alpha, algorithms, np.inf) / math.sqrt(2))


def critical_difference(algorithms: int, cases: int, alpha: float = ALPHA) -> float:
    """CD = q_alpha * sqrt(k (k + 1) / (6 N)): mean ranks further apart than this differ at `alpha` (Nemenyi)."""
    return nemenyi_q(algorithms, alpha) * math.sqrt(algorithms * (algorithms + 1) / (6.0 * cases))


def friedman(values: pd.DataFrame, alpha: float = ALPHA) -> FriedmanResult:
    """The Friedman test on cases (rows, complete ones only) x algorithms (columns), from the ranks themselves."""
    from scipy.stats import chi2, f

    complete = values.dropna()
    ranks = average_ranks(complete)
    n, k = ranks.shape
    mean_ranks = ranks.mean().sort_values(kind="stable")
    if k < 2 or n < 1:
        return FriedmanResult(k, n, mean_ranks, float("nan"), float("nan"), float("nan"), float("nan"), float("nan"), alpha,
                              "nothing to rank (fewer than 2 algorithms, or no case where every algorithm has a value)")
    statistic = 12.0 * n / (k * (k + 1)) * float((mean_ranks**2).sum()) - 3.0 * n * (k + 1)
    ties = sum(float(t**3 - t) for _, row in complete.iterrows() for t in row.value_counts().to_numpy())
    correction = 1.0 - ties / (n * k * (k * k - 1))
    cd = critical_difference(k, n, alpha)
    if correction <= 0:  # every case a full tie
        return FriedmanResult(k, n, mean_ranks, float("nan"), 1.0, float("nan"), 1.0, cd, alpha, "every algorithm tied on every case")
    statistic /= correction
    p_value = float(chi2.sf(statistic, k - 1))
    if n > 1 and statistic < n * (k - 1):
        iman = (n - 1) * statistic / (n * (k - 1) - statistic)
        iman_p = float(f.sf(iman, k - 1, (k - 1) * (n - 1)))
    else:
        iman, iman_p = float("inf") if n > 1 else float("nan"), 0.0 if n > 1 else float("nan")
    if k < 3:
        verdict = "two algorithms: the Friedman test reduces to a sign test; read the normalised scores and the paired tests per case"
    elif n < 5:
        verdict = f"{n} cases: too few for the chi-square approximation to be trusted (Demšar: N > 10 and k > 5 for it to be good)"
    elif p_value < alpha:
        verdict = f"the algorithms' mean ranks differ (p<{alpha}); pairs further apart than CD={cd:.2f} differ (Nemenyi)"
    else:
        verdict = f"no significant difference between the mean ranks (p≥{alpha})"
    return FriedmanResult(k, n, mean_ranks, float(statistic), p_value, float(iman), iman_p, cd, alpha, verdict)


def nemenyi_p_values(values: pd.DataFrame) -> pd.DataFrame:
    """Pairwise Nemenyi p-values after Friedman (scikit-posthocs), labels x labels, complete cases only."""
    import scikit_posthocs

    complete = values.dropna()
    matrix = scikit_posthocs.posthoc_nemenyi_friedman(complete.to_numpy())
    matrix.index = matrix.columns = list(complete.columns)
    return matrix


def reach_events(cases: Mapping[str, RunSet], scored: pd.DataFrame, targets: tuple[float, ...] = TARGETS) -> pd.DataFrame:
    """For every run and target: when its best-so-far value first reached the target (seconds since the run's start,
    and epochs spent by then), NaN where it never did. Trials count in the order they finished."""
    bounds = scored.drop_duplicates(["case", "label"]).set_index(["case", "label"])
    rows = []
    for case, runset in cases.items():
        sign = _better_sign(runset.objective.direction)
        for run in runset.runs.itertuples():
            run_id, label, seed = run.run_id, run.label, run.seed
            trials = runset.trials[runset.trials["run_id"] == run_id] if not runset.trials.empty else runset.trials
            reference, best = bounds.loc[(case, label), ["reference", "case_best"]]
            if trials.empty:  # a run that recorded no trial reached nothing
                rows += [{"case": case, "label": label, "seed": seed, "run_id": run_id, "target": t, "seconds": float("nan"),
                          "epochs": float("nan")} for t in targets]
                continue
            ordered = trials.sort_values(["finished_at_seconds", "number"], kind="stable")
            values = ordered["objective"].astype(float).to_numpy()
            so_far = np.fmax.accumulate(sign * values) * sign if len(values) else values  # fmax: NaN (failed) never wins
            normalised = np.array([normalise(v, reference, best) for v in so_far])
            for target in targets:
                hit = np.flatnonzero(normalised >= target - REACHED_TOLERANCE)
                first = hit[0] if len(hit) else None
                rows.append({"case": case, "label": label, "seed": seed, "run_id": run_id, "target": target,
                             "seconds": float(ordered["finished_at_seconds"].iloc[first]) if first is not None else float("nan"),
                             "epochs": float(ordered["cumulative_epochs"].iloc[first]) if first is not None else float("nan")})
    return pd.DataFrame(rows)


def profile(events: pd.DataFrame, axis: str) -> pd.DataFrame:
    """Step curves: per label and target, the share of its (case, seed) pairs that reached the target by each `axis` value
    (`seconds` or `epochs`), one row per value where the share rises (it starts at 0 before the first)."""
    rows = []
    for (label, target), group in events.groupby(["label", "target"], sort=True):
        pairs = len(group)
        reached = np.sort(group[axis].dropna().to_numpy(float))
        for x in np.unique(reached):
            rows.append({"label": label, "target": target, axis: float(x), "share": float((reached <= x).sum()) / pairs, "pairs": pairs})
    return pd.DataFrame(rows, columns=["label", "target", axis, "share", "pairs"])


def share_reached(curve: pd.DataFrame, axis: str, label: str, target: float, at: float) -> float:
    """The profile's value at `at`: the share of pairs that had reached `target` by then."""
    rows = curve[(curve["label"] == label) & (curve["target"] == target) & (curve[axis] <= at)]
    return float(rows["share"].max()) if len(rows) else 0.0


def reach_table(events: pd.DataFrame) -> pd.DataFrame:
    """Per label and target: the share of (case, seed) pairs that reached it at all, and the median seconds and epochs it
    took those that did."""
    grouped = events.groupby(["label", "target"], sort=True)
    return pd.DataFrame({
        "pairs": grouped.size(),
        "share reached": grouped["seconds"].apply(lambda s: float(s.notna().mean())),
        "median seconds to reach": grouped["seconds"].median(),
        "median epochs to reach": grouped["epochs"].median(),
    }).reset_index()
