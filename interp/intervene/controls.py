"""The one control-experiment engine, for every unit kind (neurons, heads, ResNet channels, dictionary latents).

target units -> matched random control sets -> per-item outcomes under each intervention -> statistics.

Control sets stand in for the target unit by unit: each control unit comes from the target unit's own site (its
layer) and from the same stratum of *perturbation size* (how much the intervention changes the network there,
measured on reference stimuli), drawn without replacement. Strata are widened until each holds several candidates
per target unit, so sets do not collapse onto the same few units; when fewer distinct sets exist than asked for,
every one of them is enumerated and the p-value is exact over them. The design is reported with every result:
distinct sets, unit coverage, mean pairwise Jaccard, size balance and the smallest p the design can reach.
"""
from __future__ import annotations

import dataclasses
import itertools
import math
from dataclasses import dataclass, field
from typing import Callable, ContextManager, Mapping, Optional, Sequence

import numpy as np

from probes.stats import (Estimate, RankTest, cluster_bootstrap, clustered_mcnemar, clustered_mean, diff_of_proportions,
                          estimate_from_replicates, holm, mcnemar, mover_difference, paired_difference, proportion,
                          rank_test)

from ..errors import InterpError

UnitSet = dict[str, np.ndarray]  # site -> unit indices (neurons / heads / channels / latents at that site)
Intervention = Callable[[UnitSet], ContextManager]


def as_unit_set(units: Mapping[str, Sequence[int]]) -> UnitSet:
    """Normalise a site -> indices mapping (sorted unique int arrays, empty sites dropped)."""
    return {s: np.unique(np.asarray(u, np.int64)) for s, u in units.items() if len(u)}


def set_size(units: Mapping[str, Sequence[int]]) -> int:
    """Number of units in a set."""
    return int(sum(len(u) for u in units.values()))


@dataclass
class UnitPool:
    """Every unit that may stand in a control set: per site, the perturbation size of intervening on each unit.

    `kind` names the units ("neuron", "head", "channel", "latent"); `size[site][i]` is what matching uses (e.g.
    mean |Δ residual| of ablating unit i, measured on reference stimuli)."""

    kind: str
    size: dict[str, np.ndarray]

    def n_units(self, site: str) -> int:
        """Units at a site."""
        return len(self.size[site])


@dataclass
class ControlDesign:
    """The drawn control sets and how diverse and well matched they are."""

    sets: list[UnitSet]
    n_possible: float
    exhaustive: bool
    strata: list[dict]
    notes: list[str] = field(default_factory=list)

    @property
    def n_distinct(self) -> int:
        """Distinct sets among those drawn."""
        return len({_key(s) for s in self.sets})

    def diagnostics(self, target: UnitSet, pool: UnitPool) -> dict:
        """Distinct sets, coverage of candidate units, mean pairwise Jaccard, size balance, smallest reachable p."""
        used = {(s, int(u)) for st in self.sets for s, us in st.items() for u in us}
        cand = sum(st["candidates"] for st in self.strata)
        keys = [frozenset((s, int(u)) for s, us in st.items() for u in us) for st in self.sets]
        rng = np.random.default_rng(0)
        pairs = [(i, j) for i, j in itertools.combinations(range(len(keys)), 2)]
        if len(pairs) > 2000:
            pairs = [pairs[i] for i in rng.choice(len(pairs), 2000, replace=False)]
        jac = [len(keys[i] & keys[j]) / max(1, len(keys[i] | keys[j])) for i, j in pairs]
        t_size = np.concatenate([pool.size[s][u] for s, u in target.items()])
        c_size = np.concatenate([pool.size[s][u] for st in self.sets for s, u in st.items()]) if self.sets else np.zeros(0)
        spread = np.concatenate(list(pool.size.values())).std() or 1.0
        n = self.n_distinct
        balance = float((c_size.mean() - t_size.mean()) / spread) if c_size.size else float("nan")
        notes = list(self.notes)
        if abs(balance) > 0.25:
            notes.append(f"the control {pool.kind}s are {'smaller' if balance < 0 else 'larger'} than the targets by "
                         f"{abs(balance):.2f} SD of perturbation size (not enough similar units in their layers): a "
                         f"difference from the controls may be a difference of perturbation size")
        return {"unit_kind": pool.kind, "n_sets": len(self.sets), "n_distinct": n,
                "n_possible": self.n_possible if math.isfinite(self.n_possible) else "more than 10^12",
                "exhaustive": self.exhaustive, "coverage": len(used) / max(1, cand),
                "mean_pairwise_jaccard": float(np.mean(jac)) if jac else float("nan"),
                "size_balance_sd": balance, "matched": bool(abs(balance) <= 0.25),
                "target_mean_size": float(t_size.mean()), "control_mean_size": float(c_size.mean()) if c_size.size else float("nan"),
                "smallest_p": 1 / (n + 1), "strata": self.strata, "notes": notes}


def _key(s: UnitSet) -> tuple:
    return tuple(sorted((site, tuple(int(u) for u in us)) for site, us in s.items()))


def _strata(t_sizes: np.ndarray, c_idx: np.ndarray, c_sizes: np.ndarray, ratio: Optional[int]) -> list[tuple[np.ndarray, int]]:
    """Disjoint size strata over one site's candidates: (candidate units, number of targets matched from them).

    Each target sits at its rank among the candidates by size; targets are grouped and each group gets a window of
    `ratio` candidates per target centred on its targets' ranks (shifted right where windows would overlap, merged
    with the previous group where the top of the range is reached). Fewer candidates per target only where the
    site has fewer than `ratio` per target in all."""
    if ratio is None:  # one stratum: matched on site alone
        return [(c_idx, len(t_sizes))]
    order = np.argsort(c_sizes, kind="stable")
    c_idx, c_sizes = c_idx[order], c_sizes[order]
    n_c, n_t = len(c_idx), len(t_sizes)
    ratio = max(1, min(ratio, n_c // max(n_t, 1)))
    pos = np.searchsorted(c_sizes, np.sort(t_sizes)).astype(float)
    groups: list[list[float]] = [[p] for p in pos]  # ranks of the targets in each group
    while True:
        windows, end, merged = [], 0, False
        for gi, g in enumerate(groups):
            need = ratio * len(g)
            start = max(end, int(round(np.mean(g) - need / 2)))
            if start + need > n_c:
                start = n_c - need
            if start < end:  # no room left above the previous window: this group joins it
                groups[gi - 1].extend(g)
                del groups[gi]
                merged = True
                break
            windows.append((start, start + need))
            end = start + need
        if not merged:
            break
    return [(c_idx[lo:hi], len(g)) for (lo, hi), g in zip(windows, groups)]


def _groups(target: UnitSet, pool: UnitPool, ratio: Optional[int], spilled: list[str], sites: list[str],
            code_of: dict[str, int], taken: set) -> list[tuple[str, np.ndarray, int]]:
    """(stratum label, candidate unit codes, number of targets) for every stratum of every site."""
    groups: list[tuple[str, np.ndarray, int]] = []
    for s, us in target.items():
        if s in spilled:
            continue
        cand = np.array([u for u in range(pool.n_units(s)) if (s, u) not in taken], np.int64)
        for c, t in _strata(pool.size[s][us], cand, pool.size[s][cand], ratio):
            lo, hi = float(pool.size[s][c].min()), float(pool.size[s][c].max())
            groups.append((f"{s} size {lo:.3g}..{hi:.3g}", c + code_of[s] * (1 << 32), t))
    if spilled:
        # units of target sites that match their own targets are left out, so no unit can enter a set twice
        own = {s for s in target if s not in spilled}
        codes = np.array([code_of[s] * (1 << 32) + u for s in sites if s not in own for u in range(pool.n_units(s))
                          if (s, u) not in taken])
        n_spill = sum(len(target[s]) for s in spilled)
        if len(codes) < n_spill:
            raise InterpError(f"{n_spill} target {pool.kind}s but only {len(codes)} other {pool.kind}s exist to match them")
        sizes = np.array([pool.size[sites[c >> 32]][c & 0xFFFFFFFF] for c in codes])
        t_sizes = np.concatenate([pool.size[s][target[s]] for s in spilled])
        for c, t in _strata(t_sizes, codes, sizes, ratio):
            groups.append((f"any site, size {sizes.min():.3g}..{sizes.max():.3g}", c, t))
    return groups


def _n_possible(groups: list[tuple[str, np.ndarray, int]]) -> float:
    n = 1.0
    for _, c, t in groups:
        n *= math.comb(len(c), t)
        if n > 1e12:
            return float("inf")
    return n


def draw_control_sets(target: Mapping[str, Sequence[int]], pool: UnitPool, n_sets: int, seed: int = 0,
                      exclude: Optional[Mapping[str, Sequence[int]]] = None) -> ControlDesign:
    """Control sets matched to `target` on site and perturbation-size stratum, drawn without replacement.

    Each site's non-target units are cut into size strata around the targets (4 candidates per target, widened to
    8, 16, 32 and finally the whole site until the sets are diverse). A site with fewer non-target units than
    targets draws from the other sites (noted). When at most `n_sets` distinct sets exist, all are enumerated.
    """
    target = as_unit_set(target)
    banned = as_unit_set(exclude or {})
    if not target:
        raise InterpError("the target unit set is empty: nothing to compare with controls")
    for s in target:
        if s not in pool.size:
            raise InterpError(f"no {pool.kind} sizes for site {s!r}: the unit pool covers {', '.join(pool.size)}")
        if target[s].max() >= pool.n_units(s) or target[s].min() < 0:
            raise InterpError(f"{s}: target {pool.kind} index out of range (0..{pool.n_units(s) - 1})")
    notes: list[str] = []
    sites = list(pool.size)
    code_of = {s: i for i, s in enumerate(sites)}
    taken = {(s, int(u)) for st in (target, banned) for s, us in st.items() for u in us}
    spilled = [s for s, us in target.items()
               if pool.n_units(s) - len(np.union1d(us, banned.get(s, []))) < len(us)]
    for s in spilled:
        notes.append(f"{s} has {pool.n_units(s) - len(target[s])} non-target {pool.kind}s for {len(target[s])} targets: "
                     f"its targets are matched on size among every site's {pool.kind}s")
    available = sum(pool.n_units(s) for s in sites) - len(taken)
    # strata start tight (4 candidates per target) and widen until sets are diverse: enough distinct sets, an
    # expected pairwise Jaccard of at most 0.2 and enough distinct units; the last resort matches on site alone
    for ratio in (4, 8, 16, 32, None):
        groups = _groups(target, pool, ratio, spilled, sites, code_of, taken)
        n_possible = _n_possible(groups)
        overlap = sum(t * t / len(c) for _, c, t in groups) / max(1, sum(t for _, _, t in groups))
        n_cand = sum(len(c) for _, c, _ in groups)
        # many distinct sets built from a handful of units are not many looks at the layer: ask for >= 64
        # candidate units too (or every free unit there is)
        if n_possible >= n_sets and overlap / (2 - overlap) <= 0.2 and n_cand >= min(64, available):
            break
    if ratio != 4:
        notes.append(f"size strata widened to {'the whole site' if ratio is None else f'{ratio} candidates per target'} "
                     "for diverse control sets")
    rng = np.random.default_rng(seed)

    def decode(chosen: Sequence[int]) -> UnitSet:
        out: dict[str, list[int]] = {}
        for code in chosen:
            out.setdefault(sites[int(code) >> 32], []).append(int(code) & 0xFFFFFFFF)
        return as_unit_set(out)

    if n_possible <= n_sets:
        combos = [list(itertools.combinations(c.tolist(), t)) for _, c, t in groups]
        sets = [decode([u for part in pick for u in part]) for pick in itertools.product(*combos)]
        exhaustive = True
        if len(sets) < n_sets:
            notes.append(f"only {len(sets)} distinct control sets exist (asked for {n_sets}): all are used")
    else:
        seen, sets = set(), []
        tries = 0
        while len(sets) < n_sets and tries < 50 * n_sets:
            tries += 1
            s = decode([u for _, c, t in groups for u in rng.choice(c, t, replace=False)])
            k = _key(s)
            if k not in seen:
                seen.add(k)
                sets.append(s)
        exhaustive = False
    strata = [{"stratum": lab, "candidates": int(len(c)), "targets": int(t)} for lab, c, t in groups]
    return ControlDesign(sets, n_possible, exhaustive, strata, notes)


# ------------------------------------------------------------------------------------------------ outcomes & metrics
@dataclass(frozen=True)
class Metric:
    """A behavioural metric over per-item outcomes: the mean of task `a`, minus the mean of task `b` when given.

    `binary` tasks hold 0/1 correctness (CIs by Wilson / Newcombe on stimulus cells, effects by Newcombe's paired
    interval, McNemar across conditions); others hold continuous per-item values (e.g. a logit margin). A metric
    with `b` compares tasks on disjoint items (different conditions), so its two groups are independent."""

    name: str
    a: str
    b: Optional[str] = None
    binary: bool = True
    description: str = ""

    def value(self, out: Mapping[str, np.ndarray], idx: Optional[Mapping[str, np.ndarray]] = None) -> float:
        """The metric on outcomes (restricted to item indices per task when given)."""
        va = out[self.a] if idx is None else out[self.a][idx[self.a]]
        v = float(np.mean(va)) if len(va) else float("nan")
        if self.b is not None:
            vb = out[self.b] if idx is None else out[self.b][idx[self.b]]
            v -= float(np.mean(vb)) if len(vb) else float("nan")
        return v

    def estimate(self, out: Mapping[str, np.ndarray], clusters: Optional[Mapping[str, np.ndarray]] = None) -> Estimate:
        """The metric with its 95% CI and n, on stimulus cells where `clusters` gives them (task -> cell per item):
        Wilson / Newcombe at the cells' effective sample size for binary tasks, a cluster-robust t interval (and
        MOVER for a difference) for continuous ones."""
        cl = clusters or {}
        a = np.asarray(out[self.a], float)
        if self.binary:
            if self.b is None:
                return proportion(a.astype(bool), cl.get(self.a))
            b = np.asarray(out[self.b], float)
            return diff_of_proportions(a.astype(bool), b.astype(bool), cl.get(self.a), cl.get(self.b))
        ea = clustered_mean(a, cl.get(self.a))
        if self.b is None:
            return ea
        return mover_difference(ea, clustered_mean(np.asarray(out[self.b], float), cl.get(self.b)))

    def effect(self, before: Mapping[str, np.ndarray], after: Mapping[str, np.ndarray],
               clusters: Optional[Mapping[str, np.ndarray]] = None) -> Estimate:
        """metric(after) - metric(before) on the same items, for a binary metric, with an interval that cannot
        collapse: Newcombe's paired hybrid score interval (method 10) per task, its counts divided by the Rao-Scott
        design effect of the per-item change over the task's cells (copies that change together count once), and
        for a difference of two tasks (disjoint items) the MOVER combination of their two paired intervals."""
        if not self.binary:
            raise InterpError(f"{self.name} is continuous: its effect interval is the cell bootstrap")
        cl = clusters or {}

        def paired(t: str) -> Estimate:
            return paired_difference(np.asarray(before[t]).astype(bool), np.asarray(after[t]).astype(bool), cl.get(t))

        ea = paired(self.a)
        if self.b is None:
            return ea
        eb = paired(self.b)
        d = mover_difference(ea, eb, bound=2.0)
        return Estimate(d.value, d.lo, d.hi, d.n, "MOVER of paired Newcombe intervals (design effects "
                        f"{ea.method.split()[-1]} and {eb.method.split()[-1]})", d.n_detail)


@dataclass
class Evaluation:
    """What an experiment measures: a function giving per-item outcomes per task under an optional intervention,
    the metrics over those tasks, and the stimulus cell of every item (jittered copies of a cell resample
    together)."""

    outcomes: Callable[[Optional[ContextManager]], dict[str, np.ndarray]]
    metrics: Sequence[Metric]
    clusters: Mapping[str, np.ndarray]
    description: str = ""


@dataclass
class ControlResult:
    """Target effect per metric with CI, excess over the random-set mean with a cell-bootstrap CI, rank tests with
    Holm across metrics, McNemar of the binary tasks, dose-response, and the control design."""

    unit_kind: str
    target: UnitSet
    target_size: int
    baseline: dict[str, Estimate]
    intervened: dict[str, Estimate]
    effect: dict[str, Estimate]
    excess: dict[str, Estimate]
    random_effects: dict[str, np.ndarray]
    tests: dict[str, RankTest]
    holm: dict[str, Optional[float]]
    mcnemar: dict[str, dict]
    design: dict
    dose: list[dict] = field(default_factory=list)
    info: dict = field(default_factory=dict)
    random_items: dict[str, np.ndarray] = field(default_factory=dict)  # task -> [sets, items] outcomes
    base_items: dict[str, np.ndarray] = field(default_factory=dict)    # task -> [items] without intervention
    target_items: dict[str, np.ndarray] = field(default_factory=dict)  # task -> [items] with the targets intervened on

    def p_text(self, metric: str) -> str:
        """The metric's p as a person should read it (floor, z, Holm-adjusted beside)."""
        t = self.tests[metric]
        h = self.holm.get(metric)
        return t.text() + (f"; Holm {h:.3g}" if h is not None and not t.at_floor else
                           (f"; Holm ≤ {h:.2g}" if h is not None else ""))

    def to_json(self) -> dict:
        """JSON-able summary (random-set effects summarised; per-item outcomes live in the store)."""
        def q(a):
            return {"mean": float(np.mean(a)), "sd": float(np.std(a, ddof=1)) if len(a) > 1 else float("nan"),
                    "lo": float(np.quantile(a, 0.025)), "hi": float(np.quantile(a, 0.975)), "n_sets": int(len(a))}
        return {"unit_kind": self.unit_kind, "target_size": self.target_size,
                "units": {s: u.tolist() for s, u in self.target.items()},
                "baseline": {k: v.as_dict() for k, v in self.baseline.items()},
                "intervened": {k: v.as_dict() for k, v in self.intervened.items()},
                "effect": {k: v.as_dict() for k, v in self.effect.items()},
                "excess_over_random": {k: v.as_dict() for k, v in self.excess.items()},
                "random_sets": {k: q(v) for k, v in self.random_effects.items()},
                "tests": {k: {**t.as_dict(), "holm": self.holm.get(k), "display": self.p_text(k)} for k, t in self.tests.items()},
                "mcnemar": self.mcnemar, "controls": self.design, "dose_response": self.dose, **self.info}

    def table(self) -> str:
        """Aligned text: baseline -> intervened, effect [CI], random sets, excess [CI], p."""
        d = self.design
        lines = [f"intervening on {self.target_size} {self.unit_kind}s; {d['n_distinct']} distinct matched control sets "
                 f"(coverage {d['coverage']:.2f}, mean Jaccard {d['mean_pairwise_jaccard']:.2f}, smallest p {d['smallest_p']:.3g})"]
        for k, e in self.effect.items():
            r = self.random_effects[k]
            x = self.excess[k]
            lines.append(f"  {k:<22} {self.baseline[k].value:.3f} -> {self.intervened[k].value:.3f}  effect {e.value:+.3f} "
                         f"[{e.lo:+.3f}, {e.hi:+.3f}]  random {np.mean(r):+.3f}  excess {x.value:+.3f} [{x.lo:+.3f}, {x.hi:+.3f}]"
                         f"  {self.p_text(k)}")
        return "\n".join(lines)


def _effect_ci(ev: Evaluation, base: Mapping[str, np.ndarray], alt: Mapping[str, np.ndarray],
               rand_items: Optional[Mapping[str, np.ndarray]], metric: Metric, n_boot: int, seed: int) -> Estimate:
    """Bootstrap over stimulus cells of metric(alt) - metric(base), tasks resampled independently (each task's items
    are their own stratum). With `rand_items` ([sets, items] per task) it is the excess over the control sets'
    mean effect, and each replicate also draws a control set, so the interval carries their spread too."""
    tasks = [metric.a] + ([metric.b] if metric.b else [])
    lens = {t: len(base[t]) for t in tasks}
    offsets = np.cumsum([0] + [lens[t] for t in tasks])
    strata = np.concatenate([np.full(lens[t], i) for i, t in enumerate(tasks)])
    clusters = np.concatenate([np.asarray(ev.clusters.get(t, np.arange(lens[t])))[: lens[t]].astype(str).astype(object) + f"@{t}"
                               for t in tasks])
    d = {t: np.asarray(alt[t], float) - np.asarray(base[t], float) for t in tasks}
    r = None if rand_items is None else {t: np.asarray(rand_items[t], float) - np.asarray(base[t], float)[None] for t in tasks}
    n_sets = 0 if r is None else len(r[tasks[0]])
    rng = np.random.default_rng(seed + 1)

    def split(idx: np.ndarray) -> dict[str, np.ndarray]:
        return {t: idx[(idx >= offsets[i]) & (idx < offsets[i + 1])] - offsets[i] for i, t in enumerate(tasks)}

    def stat(idx: np.ndarray) -> float:
        per = split(idx)
        if r is None or n_sets == 0:
            return metric.value(d, per)
        # each replicate compares with one control set drawn at random, so the interval is that of "target minus
        # a control set": it excludes 0 only when the target stands apart from the sets, in step with the rank test
        pick = rng.integers(0, n_sets, 1)
        return metric.value(d, per) - _mean_metric(metric, {t: r[t][pick] for t in tasks}, per)

    _, reps = cluster_bootstrap(stat, int(offsets[-1]), clusters, n_boot, seed, strata)
    every = split(np.arange(int(offsets[-1])))
    # the point estimate: the excess over the mean of every control set
    value = metric.value(d, every) - (_mean_metric(metric, r, every) if r is not None and n_sets else 0.0)
    e = estimate_from_replicates(value, reps, int(offsets[-1]), "cluster-bootstrap" if r is None else
                                 "cluster-and-control-set bootstrap")
    detail = " vs ".join(f"{lens[t]} items in {len(set(clusters[offsets[i]:offsets[i + 1]]))} cells"
                         for i, t in enumerate(tasks))
    return dataclasses.replace(e, n_detail=detail)


def at_least_as_wide(excess: Estimate, effect: Estimate) -> Estimate:
    """The excess's interval, widened where needed to contain its point and to be at least as wide on each side as
    the target effect's own interval: the excess carries the effect's sampling error whatever the control sets do,
    so a percentile interval of "target minus a control set" cannot collapse to [0, 0] when nothing changes."""
    if not all(np.isfinite([excess.value, effect.value, effect.lo, effect.hi])):
        return excess
    lo = min(excess.lo, excess.value - (effect.value - effect.lo)) if np.isfinite(excess.lo) else excess.value - (effect.value - effect.lo)
    hi = max(excess.hi, excess.value + (effect.hi - effect.value)) if np.isfinite(excess.hi) else excess.value + (effect.hi - effect.value)
    return dataclasses.replace(excess, lo=float(lo), hi=float(hi))


def _mcnemar(before: np.ndarray, after: np.ndarray, cells: Optional[np.ndarray]) -> dict:
    """Items lost / gained with McNemar's p: exact where every cell holds one item, clustered (Durkalski) where
    cells hold several, so copies of one stimulus do not multiply the evidence."""
    if cells is None or len(np.unique(np.asarray(cells)[: len(before)])) == len(before):
        return mcnemar(before, after)
    return clustered_mcnemar(before, after, np.asarray(cells)[: len(before)])


def _mean_metric(metric: Metric, r: Mapping[str, np.ndarray], per: Mapping[str, np.ndarray]) -> float:
    """Mean over control sets of the metric on the chosen items (r[task] is [sets, items])."""
    va = r[metric.a][:, per[metric.a]].mean(1) if len(per[metric.a]) else np.full(len(r[metric.a]), np.nan)
    if metric.b is not None:
        vb = r[metric.b][:, per[metric.b]].mean(1) if len(per[metric.b]) else np.full(len(r[metric.b]), np.nan)
        va = va - vb
    return float(np.mean(va))


def run_controls(ev: Evaluation, intervene: Intervention, target: Mapping[str, Sequence[int]], pool: UnitPool,
                 n_sets: int = 200, seed: int = 0, ranking: Optional[Mapping[str, np.ndarray]] = None,
                 dose: Sequence[int] = (), dose_sets: int = 20, n_boot: int = 1000, progress: bool = False,
                 info: Optional[dict] = None) -> ControlResult:
    """Intervene on `target`, then on matched random control sets, and compare per metric.

    `intervene(units)` returns a context manager under which the model runs with those units intervened on;
    `ranking[site]` scores target units (higher = stronger) to order the dose-response over `dose` set sizes.
    """
    scores: dict[tuple[str, int], float] = {}
    if ranking is not None:
        for site, units in target.items():
            if len(units) != len(ranking[site]):
                raise InterpError(f"{site}: {len(units)} target units but {len(ranking[site])} ranking scores")
            scores.update({(site, int(u)): float(sc) for u, sc in zip(units, ranking[site])})
    target = as_unit_set(target)
    design = draw_control_sets(target, pool, n_sets, seed)
    diag = design.diagnostics(target, pool)
    base = ev.outcomes(None)
    alt = ev.outcomes(intervene(target))
    sets = design.sets
    it = sets
    if progress:
        from tqdm.auto import tqdm

        it = tqdm(sets, desc=f"control {pool.kind} sets", unit="set")
    per_item = {t: [] for t in base}
    for s in it:
        out = ev.outcomes(intervene(s))
        for t in per_item:
            per_item[t].append(np.asarray(out[t], float))
    rand_items = {t: np.stack(v) if v else np.zeros((0, len(base[t]))) for t, v in per_item.items()}  # [sets, items]
    base_m = {m.name: m.value(base) for m in ev.metrics}
    rand = {m.name: np.array([m.value({t: rand_items[t][i] for t in rand_items}) - base_m[m.name]
                              for i in range(len(sets))]) for m in ev.metrics}
    effect, excess, tests = {}, {}, {}
    for m in ev.metrics:
        # binary metrics: a paired interval that cannot collapse when no item changes; continuous: cell bootstrap
        effect[m.name] = m.effect(base, alt, ev.clusters) if m.binary else _effect_ci(ev, base, alt, None, m, n_boot, seed)
        excess[m.name] = at_least_as_wide(_effect_ci(ev, base, alt, rand_items if len(sets) else None, m, n_boot, seed),
                                          effect[m.name])
        tests[m.name] = rank_test(effect[m.name].value, rand[m.name], n_distinct=design.n_distinct,
                                  exact=design.exhaustive)
    adj = holm([tests[m.name].p for m in ev.metrics])
    holm_p = {m.name: a for m, a in zip(ev.metrics, adj)}
    binary_tasks = {m.a for m in ev.metrics if m.binary} | {m.b for m in ev.metrics if m.binary and m.b}
    mc = {t: _mcnemar(np.asarray(base[t]).astype(bool), np.asarray(alt[t]).astype(bool), ev.clusters.get(t))
          for t in sorted(binary_tasks)}
    dose_rows = []
    if dose and ranking is not None:
        flat = sorted(((scores[(s, int(u))], s, int(u)) for s in target for u in target[s]), key=lambda x: -x[0])
        ks = sorted({min(int(k), len(flat)) for k in dose})
        if progress:
            from tqdm.auto import tqdm

            ks = tqdm(ks, desc="dose-response", unit="size")
        for k in ks:
            sub = as_unit_set({s: [u for _, s2, u in flat[:k] if s2 == s] for s in target})
            out = ev.outcomes(intervene(sub))
            sub_design = draw_control_sets(sub, pool, dose_sets, seed + k, exclude=target)
            ctrl = []
            for s in sub_design.sets:
                o = ev.outcomes(intervene(s))
                ctrl.append({m.name: m.value(o) - base_m[m.name] for m in ev.metrics})
            dose_rows.append({"k": k, "n_control_sets": len(ctrl),
                              **{f"effect_{m.name}": m.value(out) - base_m[m.name] for m in ev.metrics},
                              **{f"random_{m.name}": [c[m.name] for c in ctrl] for m in ev.metrics}})
    return ControlResult(pool.kind, target, set_size(target), {m.name: m.estimate(base, ev.clusters) for m in ev.metrics},
                         {m.name: m.estimate(alt, ev.clusters) for m in ev.metrics}, effect, excess, rand, tests, holm_p, mc, diag,
                         dose_rows, dict(info or {}), {t: v.astype(np.float32) for t, v in rand_items.items()},
                         {t: np.asarray(v, np.float32) for t, v in base.items()},
                         {t: np.asarray(v, np.float32) for t, v in alt.items()})
