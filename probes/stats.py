"""Shared statistics, defined once: Wilson, Newcombe (independent and paired) and (cluster) bootstrap CIs, design
effects for stimuli clustered in cells, rank p-values with their floor, Holm and Benjamini-Hochberg corrections,
McNemar (exact, and clustered).

Every accuracy or effect the toolkit reports is an `Estimate`: value, 95% CI, n and the method that made the CI.
Where items come in cells (jittered copies and font/background variants of one stimulus), the interval is computed
at the cells' effective sample size (Rao & Scott's design-effect adjustment) and `n_detail` says items and cells.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Callable, Optional, Sequence

import numpy as np
from scipy import stats as _st

from .errors import ProbeError

Z95 = 1.959963984540054


@dataclass(frozen=True)
class Estimate:
    """A number with its 95% confidence interval and sample size."""

    value: float
    lo: float
    hi: float
    n: int
    method: str
    n_detail: str = ""  # how n splits, e.g. "38 items in 11 cells vs 380 items in 110 cells"

    @property
    def n_text(self) -> str:
        """`n=418`, or the split of n into groups, items and cells where it is known."""
        return f"n={self.n_detail}" if self.n_detail else f"n={self.n}"

    def covers(self, x: float) -> bool:
        """True when x lies inside the CI."""
        return self.lo - 1e-12 <= x <= self.hi + 1e-12

    def as_dict(self) -> dict:
        """JSON-able form."""
        return asdict(self)

    def __str__(self) -> str:
        return f"{self.value:.3f} [{self.lo:.3f}, {self.hi:.3f}] ({self.n_text})"


def n_text(d: dict) -> str:
    """The n of an Estimate's JSON form as a person should read it (items and cells where known)."""
    return f"n={d['n_detail']}" if d.get("n_detail") else f"n={d['n']}"


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


def _wilson_limits(p: float, n: float, z: float = Z95) -> tuple[float, float]:
    """Wilson score limits of a proportion p observed on n (possibly effective, non-integer) observations."""
    den = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / den
    half = z * math.sqrt(max(0.0, p * (1 - p)) / n + z * z / (4 * n * n)) / den
    return min(p, max(0.0, centre - half)), max(p, min(1.0, centre + half))


def newcombe(k1: int, n1: int, k2: int, n2: int, z: float = Z95) -> Estimate:
    """k1/n1 - k2/n2 with Newcombe's hybrid score interval (method 10): never degenerate at 0 or 1.

    `n` is n1 + n2; both group sizes are kept in `method` ("newcombe n1=.. n2=..") and in `n_detail`.
    """
    if n1 <= 0 or n2 <= 0:
        return Estimate(float("nan"), float("nan"), float("nan"), int(max(n1, 0) + max(n2, 0)), f"newcombe n1={n1} n2={n2}",
                        f"{n1} vs {n2}")
    e = mover_difference(wilson(k1, n1, z), wilson(k2, n2, z), bound=1.0)
    return Estimate(e.value, e.lo, e.hi, int(n1 + n2), f"newcombe n1={n1} n2={n2}", f"{n1} vs {n2}")


def mover_difference(a: Estimate, b: Estimate, bound: float = math.inf) -> Estimate:
    """a - b for independent estimates, its interval recovered from theirs (MOVER, Zou & Donner 2008; with Wilson
    limits this is Newcombe's method 10): asymmetric where theirs are, never narrower than either; clipped to
    [-bound, bound] (1 for differences of proportions)."""
    d = a.value - b.value
    lo = d - math.sqrt((a.value - a.lo) ** 2 + (b.hi - b.value) ** 2)
    hi = d + math.sqrt((a.hi - a.value) ** 2 + (b.value - b.lo) ** 2)
    return Estimate(d, max(-bound, lo), min(bound, hi), int(a.n + b.n), f"MOVER of ({a.method}) and ({b.method})",
                    f"{a.n_detail or a.n} vs {b.n_detail or b.n}")


def _cells(values: np.ndarray, clusters: Optional[Sequence]) -> np.ndarray:
    """Integer cell index per item (each item its own cell when `clusters` is None)."""
    if clusters is None:
        return np.arange(values.size)
    c = np.asarray(clusters)
    if c.shape != (values.size,):
        raise ProbeError(f"{c.size} cell labels for {values.size} items: give one cell per item")
    return np.unique(c, return_inverse=True)[1].reshape(-1)


def design_effect(values: Sequence[float] | np.ndarray, clusters: Optional[Sequence] = None) -> float:
    """Rao-Scott design effect of a mean over items grouped in cells: the cluster-robust variance of the mean,
    C/(C-1) * sum over cells of (sum of residuals)^2, over the same with every item its own cell, n/(n-1) * sum of
    squared residuals. 1 when every cell holds one item; at least 1 (copies never add information); 1 when the
    values do not vary or vary in too few cells to estimate the within-cell correlation from: then the worst case,
    n / cells (every copy a duplicate), so an interval at the boundary counts cells, not copies; n for one cell."""
    y = np.asarray(values, float).reshape(-1)
    cells = _cells(y, clusters)
    n = y.size
    if n < 2:
        return 1.0
    n_cells = int(cells.max()) + 1
    if n_cells < 2:
        return float(n)
    worst = n / n_cells
    r = y - y.mean()
    v_items = n / (n - 1) * float(np.sum(r * r))
    vals, counts = np.unique(y, return_counts=True)
    off_mode = y != vals[counts.argmax()]  # for 0/1 outcomes: the minority items
    varying = np.bincount(cells, weights=off_mode.astype(float), minlength=n_cells) > 0
    if v_items <= 1e-12 * n or varying.sum() < 5:  # no spread, or too few cells that show it
        return max(1.0, worst)
    sums = np.bincount(cells, weights=r, minlength=n_cells)
    v_cells = n_cells / (n_cells - 1) * float(np.sum(sums * sums))
    return max(1.0, v_cells / v_items)


def _n_items(n: int, clusters: Optional[Sequence], cells: np.ndarray, what: str = "items") -> str:
    return f"{n} {what}" if clusters is None else f"{n} {what} in {int(cells.max()) + 1 if n else 0} cells"


def proportion(correct: Sequence[bool] | np.ndarray, clusters: Optional[Sequence] = None, z: float = Z95) -> Estimate:
    """Share of True with a Wilson interval at the effective sample size n / design effect of the cells (Rao &
    Scott 1992): copies of one stimulus count once as far as their outcomes agree. Without cells, `accuracy`."""
    c = np.asarray(correct, bool).reshape(-1)
    if clusters is None:
        return accuracy(c)
    cells = _cells(c, clusters)
    n = int(c.size)
    if n == 0:
        return Estimate(float("nan"), float("nan"), float("nan"), 0, "wilson", "0 items in 0 cells")
    deff = design_effect(c, clusters)
    p = float(c.mean())
    lo, hi = _wilson_limits(p, n / deff, z)
    return Estimate(p, lo, hi, n, f"wilson, design effect {deff:.2f}", _n_items(n, clusters, cells))


def diff_of_proportions(a: Sequence[bool], b: Sequence[bool], clusters_a: Optional[Sequence] = None,
                        clusters_b: Optional[Sequence] = None) -> Estimate:
    """mean(a) - mean(b) for two independent groups of 0/1 outcomes, with Newcombe's interval; n = len(a) + len(b).

    With cells (one label per item) each group's Wilson limits are taken at its effective sample size (Rao-Scott
    design effect) before Newcombe combines them, so the interval rests on cells, not copies; `n_detail` states
    items and cells of both groups (the MOVER construction of Zou & Donner for clustered data)."""
    a, b = np.asarray(a, bool).reshape(-1), np.asarray(b, bool).reshape(-1)
    if clusters_a is None and clusters_b is None:
        return newcombe(int(a.sum()), int(a.size), int(b.sum()), int(b.size))
    if a.size == 0 or b.size == 0:
        return Estimate(float("nan"), float("nan"), float("nan"), int(a.size + b.size), "newcombe",
                        f"{a.size} vs {b.size} items")
    ea = proportion(a, clusters_a if clusters_a is not None else np.arange(a.size))
    eb = proportion(b, clusters_b if clusters_b is not None else np.arange(b.size))
    d = mover_difference(ea, eb, bound=1.0)
    return Estimate(d.value, d.lo, d.hi, d.n, f"newcombe, design effects {ea.method.split()[-1]} and "
                    f"{eb.method.split()[-1]}", d.n_detail)


def _paired_limits(a: float, b: float, c: float, d: float, z: float = Z95) -> tuple[float, float, float]:
    """(p1 - p2, lower, upper) by Newcombe's method 10 for paired data; counts may be effective (non-integer)."""
    n = a + b + c + d
    p1, p2 = (a + b) / n, (a + c) / n
    l1, u1 = _wilson_limits(p1, n, z)
    l2, u2 = _wilson_limits(p2, n, z)
    margins = (a + b) * (c + d) * (a + c) * (b + d)
    phi = 0.0
    if margins > 0:
        # Newcombe's continuity-corrected correlation: ad - bc shrunk by n/2 when positive, 0 in between
        ad_bc = a * d - b * c
        phi = (ad_bc - n / 2 if ad_bc > n / 2 else (ad_bc if ad_bc < 0 else 0.0)) / math.sqrt(margins)
    theta = p1 - p2
    lo = theta - math.sqrt(max(0.0, (p1 - l1) ** 2 - 2 * phi * (p1 - l1) * (u2 - p2) + (u2 - p2) ** 2))
    hi = theta + math.sqrt(max(0.0, (u1 - p1) ** 2 - 2 * phi * (u1 - p1) * (p2 - l2) + (p2 - l2) ** 2))
    return theta, max(-1.0, lo), min(1.0, hi)


def newcombe_paired(a: int, b: int, c: int, d: int, z: float = Z95) -> Estimate:
    """p1 - p2 = (b - c) / n for paired 0/1 outcomes with Newcombe's (1998) hybrid score interval (method 10).

    `a` pairs succeed under both conditions, `b` under the first only, `c` under the second only, `d` under
    neither. The interval combines the Wilson limits of the two marginal proportions with their (continuity-
    corrected) correlation, so it never collapses, also when no pair is discordant."""
    counts = (a, b, c, d)
    if min(counts) < 0:
        raise ProbeError(f"paired counts must be non-negative, got {counts}")
    n = a + b + c + d
    if n <= 0:
        return Estimate(float("nan"), float("nan"), float("nan"), 0, "newcombe paired (method 10)")
    theta, lo, hi = _paired_limits(a, b, c, d, z)
    return Estimate(theta, lo, hi, int(n), "newcombe paired (method 10)", f"{n} pairs")


def paired_difference(before: Sequence[bool], after: Sequence[bool], clusters: Optional[Sequence] = None,
                      z: float = Z95) -> Estimate:
    """mean(after) - mean(before) over the same items, with Newcombe's paired interval (method 10).

    Items clustered in cells (a label per item) enter through the Rao-Scott design effect of the per-item change
    (after - before): the four paired counts are divided by it before the interval is formed, so copies of one
    stimulus that change together count once. Without discordant pairs there is no within-cell correlation to
    estimate and the design effect is 1; the interval is then still non-degenerate around 0."""
    x, y = np.asarray(before, bool).reshape(-1), np.asarray(after, bool).reshape(-1)
    if x.shape != y.shape:
        raise ProbeError(f"paired outcomes need one before and one after per item, got {x.size} and {y.size}")
    n = int(x.size)
    cells = _cells(x, clusters)
    if n == 0:
        return Estimate(float("nan"), float("nan"), float("nan"), 0, "newcombe paired (method 10)")
    deff = design_effect(y.astype(float) - x.astype(float), clusters)
    counts = [float(np.sum(y & x)), float(np.sum(y & ~x)), float(np.sum(~y & x)), float(np.sum(~y & ~x))]
    theta, lo, hi = _paired_limits(*(k / deff for k in counts), z=z)
    return Estimate(theta, lo, hi, n, f"newcombe paired (method 10), design effect {deff:.2f}",
                    _n_items(n, clusters, cells, "item pairs"))


def clustered_mean(values: Sequence[float] | np.ndarray, clusters: Optional[Sequence] = None) -> Estimate:
    """Mean of continuous per-item values with a cluster-robust (CR1) standard error and a t interval on
    cells - 1 degrees of freedom (each item its own cell when `clusters` is None)."""
    y = np.asarray(values, float).reshape(-1)
    cells = _cells(y, clusters)
    n = int(y.size)
    n_cells = int(cells.max()) + 1 if n else 0
    if n_cells < 2:
        return Estimate(float(y.mean()) if n else float("nan"), float("nan"), float("nan"), n, "cluster-robust t",
                        _n_items(n, clusters, cells))
    r = y - y.mean()
    sums = np.bincount(cells, weights=r, minlength=n_cells)
    se = math.sqrt(n_cells / (n_cells - 1) * float(np.sum(sums * sums))) / n
    half = float(_st.t.ppf(0.975, n_cells - 1)) * se
    m = float(y.mean())
    return Estimate(m, m - half, m + half, n, "cluster-robust t", _n_items(n, clusters, cells))


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
    if not np.isfinite(observed) or not np.all(np.isfinite(null)):
        return RankTest(None, 0, n, float("nan"), exact, "the effect or a control set's effect is not a number: no test")
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


def mcnemar(a_correct: Sequence[bool], b_correct: Sequence[bool], exact: bool = True) -> dict:
    """McNemar test for paired accuracies: discordant counts and the two-sided p (exact binomial, or the
    chi-square statistic (b - c)^2 / (b + c) on 1 df without continuity correction when `exact` is False)."""
    a, b = np.asarray(a_correct, bool), np.asarray(b_correct, bool)
    n01, n10 = int(np.sum(~a & b)), int(np.sum(a & ~b))
    n = n01 + n10
    if exact:
        p = 1.0 if n == 0 else float(_st.binomtest(n10, n, 0.5).pvalue)
        return {"a_only": n10, "b_only": n01, "p": p, "n_pairs": int(a.size), "method": "exact McNemar"}
    stat = 0.0 if n == 0 else (n10 - n01) ** 2 / n
    return {"a_only": n10, "b_only": n01, "p": float(_st.chi2.sf(stat, 1)) if n else 1.0, "n_pairs": int(a.size),
            "statistic": float(stat), "method": "McNemar chi-square"}


def clustered_mcnemar(a_correct: Sequence[bool], b_correct: Sequence[bool], clusters: Sequence) -> dict:
    """McNemar's test for pairs clustered in cells (Durkalski et al. 2003, Stat Med 22:2417): with d_k the
    cell's a-only minus b-only count, X^2 = (sum d_k)^2 / sum d_k^2 on 1 df. With one pair per cell it is the
    ordinary McNemar chi-square; copies of a pair in one cell do not make a change more significant."""
    a, b = np.asarray(a_correct, bool).reshape(-1), np.asarray(b_correct, bool).reshape(-1)
    if a.shape != b.shape:
        raise ProbeError(f"paired outcomes need one a and one b per item, got {a.size} and {b.size}")
    cells = _cells(a, clusters)
    n_cells = int(cells.max()) + 1 if a.size else 0
    dk = np.bincount(cells, weights=(a & ~b).astype(float) - (~a & b).astype(float), minlength=n_cells)
    den = float(np.sum(dk * dk))
    stat = float(np.sum(dk)) ** 2 / den if den > 0 else 0.0
    return {"a_only": int(np.sum(a & ~b)), "b_only": int(np.sum(~a & b)), "p": float(_st.chi2.sf(stat, 1)) if den > 0 else 1.0,
            "n_pairs": int(a.size), "n_cells": n_cells, "statistic": stat, "method": "clustered McNemar (Durkalski)"}
