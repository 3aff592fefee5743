"""Shared statistics, defined once: Wilson, Newcombe and (cluster) bootstrap CIs, rank p-values with their floor,
Holm and Benjamini-Hochberg corrections, McNemar.

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
    # clamp to [0, p] and [p, 1]: at p = 0 or 1 rounding can put the bound a hair past the point estimate
    return Estimate(p, min(p, max(0.0, centre - half)), max(p, min(1.0, centre + half)), int(n), "wilson")


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


def newcombe(k1: int, n1: int, k2: int, n2: int, z: float = Z95) -> Estimate:
    """k1/n1 - k2/n2 with Newcombe's hybrid score interval (method 10): never degenerate at 0 or 1.

    `n` is n1 + n2; both group sizes are kept in `method` ("newcombe n1=.. n2=..") so a reader sees them.
    """
    if n1 <= 0 or n2 <= 0:
        return Estimate(float("nan"), float("nan"), float("nan"), int(max(n1, 0) + max(n2, 0)), f"newcombe n1={n1} n2={n2}")
    a, b = wilson(k1, n1, z), wilson(k2, n2, z)
    d = a.value - b.value
    lo = d - math.sqrt((a.value - a.lo) ** 2 + (b.hi - b.value) ** 2)
    hi = d + math.sqrt((a.hi - a.value) ** 2 + (b.value - b.lo) ** 2)
    return Estimate(d, max(-1.0, lo), min(1.0, hi), int(n1 + n2), f"newcombe n1={n1} n2={n2}")


def diff_of_proportions(a: Sequence[bool], b: Sequence[bool]) -> Estimate:
    """mean(a) - mean(b) for two independent groups of 0/1 outcomes, with Newcombe's interval; n = len(a) + len(b)."""
    a, b = np.asarray(a, bool), np.asarray(b, bool)
    return newcombe(int(a.sum()), int(a.size), int(b.sum()), int(b.size))


def cluster_bootstrap(statistic: Callable[[np.ndarray], float], n_items: int, clusters: Optional[np.ndarray] = None,
                      n_boot: int = 2000, seed: int = 0, strata: Optional[np.ndarray] = None) -> tuple[float, np.ndarray]:
    """Point value and bootstrap replicates of `statistic(item_indices)`, resampling whole clusters (jittered copies
    of one stimulus cell travel together), within strata when given. Returns (value, replicates[n_boot])."""
    clusters = np.arange(n_items) if clusters is None else np.asarray(clusters)
    strata = np.zeros(n_items, int) if strata is None else np.asarray(strata)
    rng = np.random.default_rng(seed)
    groups = []  # per stratum: list of item-index arrays, one per cluster
    for s in np.unique(strata):
        in_s = np.flatnonzero(strata == s)
        cl = clusters[in_s]
        groups.append([in_s[cl == c] for c in np.unique(cl)])
    value = float(statistic(np.arange(n_items)))
    reps = np.empty(n_boot)
    for b in range(n_boot):
        parts = []
        for g in groups:
            pick = rng.integers(0, len(g), len(g))
            parts.extend(g[i] for i in pick)
        reps[b] = statistic(np.concatenate(parts) if parts else np.zeros(0, int))
    return value, reps


def estimate_from_replicates(value: float, reps: np.ndarray, n: int, method: str) -> Estimate:
    """A percentile-interval Estimate from bootstrap replicates (non-finite replicates dropped)."""
    reps = np.asarray(reps, float)
    reps = reps[np.isfinite(reps)]
    lo, hi = (np.quantile(reps, [0.025, 0.975]) if reps.size else (float("nan"), float("nan")))
    return Estimate(float(value), float(lo), float(hi), int(n), method)


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


@dataclass(frozen=True)
class RankTest:
    """A rank p-value of a target against a null of `n_null` distinct draws, Phipson-Smyth (1 + k) / (1 + n).

    At its floor (k = 0) the p-value says only "no draw was as extreme": it prints as `p <= 1/(n+1)`, and `z`
    (the target's distance from the null mean in null SDs) says how far beyond the floor it lies. `exact` marks a
    null that enumerated every possible control set. `p` is None when the null is too small to test at all.
    """

    p: Optional[float]
    k: int
    n_null: int
    z: float
    exact: bool = False
    reason: str = ""

    @property
    def at_floor(self) -> bool:
        """True when no null draw was as extreme as the target."""
        return self.p is not None and self.k == 0

    def text(self, p: Optional[float] = None) -> str:
        """`p = 0.034`, `p <= 0.005` at the floor, or the reason no p exists; `p` overrides the value (e.g. Holm)."""
        if self.p is None:
            return f"no test ({self.reason})"
        value = self.p if p is None else p
        kind = "exact, " if self.exact else ""
        if self.at_floor and p is None:
            return f"p ≤ 1/{self.n_null + 1} = {value:.2g} ({kind}{self.n_null} distinct sets, z = {self.z:+.1f})"
        return f"p = {value:.3g} ({kind}{self.n_null} distinct sets, z = {self.z:+.1f})"

    def as_dict(self) -> dict:
        """JSON-able form, with the printed text."""
        return {**asdict(self), "at_floor": self.at_floor, "text": self.text()}


MIN_NULL = 20


def rank_test(observed: float, null: Sequence[float], n_distinct: Optional[int] = None, exact: bool = False,
              min_null: int = MIN_NULL) -> RankTest:
    """Two-sided rank test of `observed` against `null`, centred on the null mean; refuses when fewer than
    `min_null` distinct null draws exist (a p-value from a handful of sets would be mostly floor)."""
    null = np.asarray(null, float)
    n = int(null.size if n_distinct is None else n_distinct)
    if n != null.size:
        raise ValueError(f"the null holds {null.size} draws but {n} distinct control sets: draw each set once")
    mu = float(null.mean()) if null.size else float("nan")
    sd = float(null.std(ddof=1)) if null.size > 1 else float("nan")
    z = (observed - mu) / sd if sd and np.isfinite(sd) and sd > 0 else (0.0 if observed == mu else float("inf") * np.sign(observed - mu))
    if n < min_null:
        return RankTest(None, 0, n, float(z), exact, f"only {n} distinct control sets exist; a rank test needs ≥ {min_null}")
    k = int(np.sum(np.abs(null - mu) >= abs(observed - mu) - 1e-12))
    return RankTest(float((1 + k) / (1 + null.size)), k, n, float(z), exact)


def holm(p: Sequence[Optional[float]]) -> list[Optional[float]]:
    """Holm step-down adjusted p-values (None entries are skipped and stay None)."""
    idx = [i for i, v in enumerate(p) if v is not None]
    vals = np.array([p[i] for i in idx], float)
    out: list[Optional[float]] = [None] * len(p)
    m = len(vals)
    running = 0.0
    for rank, j in enumerate(np.argsort(vals)):
        running = max(running, min(1.0, (m - rank) * vals[j]))
        out[idx[j]] = float(running)
    return out


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
