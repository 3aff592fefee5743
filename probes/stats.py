"""Shared statistics, defined once: Wilson and bootstrap CIs, permutation p, Benjamini-Hochberg, McNemar.

Every accuracy or effect the toolkit reports is an `Estimate`: value, 95% CI, n and the method that made the CI.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Callable, Optional, Sequence

import numpy as np
from scipy import stats as _st

Z95 = 1.959963984540054


@dataclass(frozen=True)
class Estimate:
    """A number with its 95% confidence interval and sample size."""

    value: float
    lo: float
    hi: float
    n: int
    method: str

    def covers(self, x: float) -> bool:
        """True when x lies inside the CI."""
        return self.lo - 1e-12 <= x <= self.hi + 1e-12

    def as_dict(self) -> dict:
        """JSON-able form."""
        return asdict(self)

    def __str__(self) -> str:
        return f"{self.value:.3f} [{self.lo:.3f}, {self.hi:.3f}] (n={self.n})"


def wilson(k: int | float, n: int, z: float = Z95) -> Estimate:
    """Proportion k/n with the Wilson score interval (well behaved at 0, 1 and small n)."""
    if n <= 0:
        return Estimate(float("nan"), float("nan"), float("nan"), 0, "wilson")
    p = k / n
    den = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / den
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / den
    return Estimate(p, max(0.0, centre - half), min(1.0, centre + half), int(n), "wilson")


def accuracy(correct: Sequence[bool] | np.ndarray) -> Estimate:
    """Share of True with a Wilson CI."""
    c = np.asarray(correct, bool)
    return wilson(int(c.sum()), int(c.size))


def bootstrap(statistic: Callable[[np.ndarray], float], data: np.ndarray, n_boot: int = 2000, seed: int = 0,
              strata: Optional[np.ndarray] = None) -> Estimate:
    """Percentile bootstrap CI of `statistic(rows)` resampling rows of `data` (within strata if given)."""
    data = np.asarray(data)
    n = len(data)
    if n == 0:
        return Estimate(float("nan"), float("nan"), float("nan"), 0, "bootstrap")
    rng = np.random.default_rng(seed)
    value = float(statistic(data))
    reps = np.empty(n_boot)
    if strata is None:
        for b in range(n_boot):
            reps[b] = statistic(data[rng.integers(0, n, n)])
    else:
        groups = [np.flatnonzero(strata == s) for s in np.unique(strata)]
        for b in range(n_boot):
            idx = np.concatenate([g[rng.integers(0, len(g), len(g))] for g in groups])
            reps[b] = statistic(data[idx])
    reps = reps[np.isfinite(reps)]
    lo, hi = (np.quantile(reps, [0.025, 0.975]) if reps.size else (float("nan"), float("nan")))
    return Estimate(value, float(lo), float(hi), n, "bootstrap-percentile")


def diff_of_proportions(a: Sequence[bool], b: Sequence[bool], n_boot: int = 2000, seed: int = 0) -> Estimate:
    """mean(a) - mean(b) for two independent groups, with a stratified bootstrap CI; n = len(a) + len(b)."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    data = np.concatenate([a, b])
    group = np.r_[np.zeros(len(a)), np.ones(len(b))]
    stacked = np.column_stack([data, group])

    def stat(rows: np.ndarray) -> float:
        g = rows[:, 1]
        return rows[g == 0, 0].mean() - rows[g == 1, 0].mean()

    return bootstrap(stat, stacked, n_boot, seed, strata=group)


def paired_mean_diff(a: Sequence[float], b: Sequence[float], n_boot: int = 2000, seed: int = 0) -> Estimate:
    """mean(a - b) over paired observations, with a bootstrap CI over pairs."""
    d = np.asarray(a, float) - np.asarray(b, float)
    return bootstrap(lambda r: float(r.mean()), d, n_boot, seed)


def permutation_p(observed: float, null: Sequence[float], alternative: str = "greater") -> float:
    """(1 + #null at least as extreme) / (1 + #null): the rank p-value of an observed statistic."""
    null = np.asarray(null, float)
    if alternative == "greater":
        k = np.sum(null >= observed)
    elif alternative == "less":
        k = np.sum(null <= observed)
    else:
        k = np.sum(np.abs(null) >= abs(observed))
    return float((1 + k) / (1 + null.size))


def benjamini_hochberg(p: Sequence[float] | np.ndarray, alpha: float = 0.05) -> tuple[np.ndarray, np.ndarray]:
    """BH q-values and the rejection mask at FDR `alpha` (NaN p-values are never rejected)."""
    p = np.asarray(p, float)
    q = np.full(p.shape, np.nan)
    ok = np.isfinite(p)
    pv = p[ok]
    m = pv.size
    if m:
        order = np.argsort(pv)
        ranked = pv[order] * m / np.arange(1, m + 1)
        ranked = np.minimum.accumulate(ranked[::-1])[::-1]
        qq = np.empty(m)
        qq[order] = np.minimum(ranked, 1.0)
        q[ok] = qq
    return q, np.where(ok, q <= alpha, False)


def mcnemar(a_correct: Sequence[bool], b_correct: Sequence[bool]) -> dict:
    """Exact McNemar test for paired accuracies: discordant counts and the two-sided binomial p."""
    a, b = np.asarray(a_correct, bool), np.asarray(b_correct, bool)
    n01, n10 = int(np.sum(~a & b)), int(np.sum(a & ~b))
    n = n01 + n10
    p = 1.0 if n == 0 else float(_st.binomtest(n10, n, 0.5).pvalue)
    return {"a_only": n10, "b_only": n01, "p": p, "n_pairs": int(a.size)}
