"""Neuron census: colour-selective, text-selective and multimodal colour neurons, with proper statistics.

Everything is computed in one streaming pass over row blocks of the store (group counts, sums and sums of
squares), so the census runs out of core. Definitions (README "Selectivity indices"):

- colour-selective: one-way ANOVA over the 11 figure colours of the colour patches (scipy F distribution),
  Benjamini-Hochberg across all neurons of the analysis, and the Colour-Label Selectivity Index
  CLSI = (mean of the preferred colour - mean of the other colours) / pooled within-colour SD
  above tau_colour, the 99th percentile of CLSI under shuffled colour labels (pooled over neurons and
  permutations).
- text-selective: Welch t-test words (congruent/incongruent/word-only Stroop images) > ink-only bars, one-sided,
  BH; TSI = (mean words - mean bars) / pooled SD above tau_text from shuffled word/bar labels; and words >
  non-words (one-sided Welch, BH among neurons passing the first test).
- multimodal colour: colour-selective on patches and also on colour words in neutral ink (ANOVA over the 11
  word labels, BH, CLSI above its own shuffled-label threshold), with the same preferred colour in both.
"""
from __future__ import annotations


from dataclasses import dataclass
from typing import Iterable, Optional, Sequence

import numpy as np
from scipy import stats as st

from activations_store import ActivationStore, CensusRecord, StoreKeyError
from probes.stats import benjamini_hochberg
from probes.stimuli.colours import TERMS

from ..errors import InterpError
from ..models.sites import site_layer

CLASSES = ("multimodal_colour", "text", "colour", "none")


@dataclass
class Grouping:
    """A labelling of some rows into groups; permuted copies give the null."""

    name: str
    rows: np.ndarray        # indices of the rows that take part
    labels: np.ndarray      # group index per participating row
    n_groups: int
    perms: np.ndarray       # [B, len(rows)] permuted group labels

    @classmethod
    def make(cls, name: str, rows: np.ndarray, labels: np.ndarray, n_groups: int, n_perm: int, seed: int) -> "Grouping":
        rng = np.random.default_rng(seed)
        return cls(name, rows, labels, n_groups, np.stack([rng.permutation(labels) for _ in range(n_perm)]) if n_perm else
                   np.zeros((0, len(labels)), int))


class _Acc:
    """Streaming group sums for one grouping over one activation matrix [n, neurons]."""

    def __init__(self, g: Grouping, n_neurons: int, n_rows_total: int) -> None:
        self.g = g
        self.pos = np.full(n_rows_total, -1)
        self.pos[g.rows] = np.arange(len(g.rows))
        self.count = np.bincount(g.labels, minlength=g.n_groups).astype(float)
        self.s = np.zeros((g.n_groups, n_neurons))
        self.ss = np.zeros((g.n_groups, n_neurons))
        self.ps = np.zeros((len(g.perms), g.n_groups, n_neurons))

    def add(self, lo: int, block: np.ndarray, sub: int = 2048) -> None:
        # float64 sums keep ANOVA's sum-of-squares exact enough at 10^6 rows; sub-blocks bound the float64 copies
        for s in range(0, len(block), sub):
            self._add(lo + s, block[s : s + sub])

    def _add(self, lo: int, block: np.ndarray) -> None:
        p = self.pos[lo : lo + len(block)]
        keep = p >= 0
        if not keep.any():
            return
        x = block[keep].astype(np.float64)
        lab = self.g.labels[p[keep]]
        oh = np.eye(self.g.n_groups)[lab]
        self.s += oh.T @ x
        self.ss += oh.T @ (x * x)
        for b in range(len(self.g.perms)):
            self.ps[b] += np.eye(self.g.n_groups)[self.g.perms[b, p[keep]]].T @ x


def _anova(acc: _Acc) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(F p-value, CLSI, preferred group, null CLSI [B, neurons]) from streamed sums."""
    n_k = acc.count[:, None]
    n, k = acc.count.sum(), acc.g.n_groups
    mean_k = acc.s / np.maximum(n_k, 1)
    grand = acc.s.sum(0) / n
    ss_between = (n_k * (mean_k - grand) ** 2).sum(0)
    ss_within = np.maximum(acc.ss.sum(0) - (acc.s ** 2 / np.maximum(n_k, 1)).sum(0), 1e-12)
    f = (ss_between / (k - 1)) / (ss_within / (n - k))
    p = st.f.sf(f, k - 1, n - k)
    sd = np.sqrt(ss_within / (n - k))

    def index(sums: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        m = sums / np.maximum(n_k, 1)
        pref = m.argmax(0)
        top_sum = np.take_along_axis(sums, pref[None], 0)[0]
        top_n = acc.count[pref]
        rest = (sums.sum(0) - top_sum) / np.maximum(n - top_n, 1)
        return (top_sum / top_n - rest) / sd, pref

    clsi, pref = index(acc.s)
    null = np.stack([index(ps)[0] for ps in acc.ps]) if len(acc.ps) else np.zeros((0, len(clsi)))
    return p, clsi, pref, null


def _welch(acc: _Acc, a: int, b: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One-sided Welch p (group a > group b), standardised difference, null differences [B, neurons]."""
    na, nb = acc.count[a], acc.count[b]
    ma, mb = acc.s[a] / na, acc.s[b] / nb
    va = np.maximum(acc.ss[a] / na - ma ** 2, 0) * na / max(na - 1, 1)
    vb = np.maximum(acc.ss[b] / nb - mb ** 2, 0) * nb / max(nb - 1, 1)
    se = np.sqrt(va / na + vb / nb) + 1e-12
    t = (ma - mb) / se
    dof = (va / na + vb / nb) ** 2 / ((va / na) ** 2 / max(na - 1, 1) + (vb / nb) ** 2 / max(nb - 1, 1) + 1e-300)
    p = st.t.sf(t, np.maximum(dof, 1))
    pooled = np.sqrt(((na - 1) * va + (nb - 1) * vb) / max(na + nb - 2, 1)) + 1e-12
    d = (ma - mb) / pooled
    null = np.stack([(ps[a] / na - ps[b] / nb) / pooled for ps in acc.ps]) if len(acc.ps) else np.zeros((0, len(d)))
    return p, d, null


@dataclass
class Census:
    """Per-neuron records of one census (arrays aligned on `site`/`unit`) plus the thresholds used."""

    site: np.ndarray
    layer: np.ndarray
    unit: np.ndarray
    reduction: str
    arrays: dict[str, np.ndarray]
    thresholds: dict[str, float]
    alpha: float

    @property
    def cls(self) -> np.ndarray:
        """Primary class per neuron."""
        return self.arrays["class"]

    def table(self) -> dict[str, dict[str, int]]:
        """Per-site counts of each class."""
        out: dict[str, dict[str, int]] = {}
        for s in dict.fromkeys(self.site.tolist()):
            m = self.site == s
            out[s] = {c: int(np.sum(self.cls[m] == c)) for c in CLASSES} | {"total": int(m.sum())}
        return out

    def records(self, mask: Optional[np.ndarray] = None) -> list[dict]:
        """Per-neuron dicts (optionally only where mask)."""
        idx = np.flatnonzero(mask) if mask is not None else range(len(self.unit))
        keys = list(self.arrays)
        return [{"site": str(self.site[i]), "layer": int(self.layer[i]), "unit": int(self.unit[i]),
                 **{k: (self.arrays[k][i].item() if hasattr(self.arrays[k][i], "item") else self.arrays[k][i]) for k in keys}}
                for i in idx]


def census_groupings(stimuli: dict[str, np.ndarray], n_perm: int, seed: int) -> dict[str, Grouping]:
    """The three groupings the census needs, from the store's stimulus columns."""
    need = {"set", "colour", "word", "ink", "condition"}
    missing = need - set(stimuli)
    if missing:
        raise InterpError(f"the store lacks stimulus columns {sorted(missing)}: capture the `census` probe set "
                          "(clip-interp cache --stimuli census ...)")
    s, cond = stimuli["set"], stimuli["condition"]
    t_idx = {t: i for i, t in enumerate(TERMS)}
    patch = np.flatnonzero(s == "colour_patches")
    neutral = np.flatnonzero(cond == "word_only")
    words = np.flatnonzero(np.isin(cond, ["congruent", "incongruent", "word_only"]))
    bars = np.flatnonzero(cond == "ink_only")
    nonw = np.flatnonzero(cond == "nonword")
    if len(patch) < 2 * len(TERMS) or len(neutral) < len(TERMS) or len(bars) < 2 or len(nonw) < 2:
        raise InterpError("too few census stimuli: need colour patches, word-only, ink-only and non-word images")
    text_rows = np.concatenate([words, bars, nonw])
    text_lab = np.r_[np.zeros(len(words), int), np.ones(len(bars), int), np.full(len(nonw), 2)]
    return {
        "colour": Grouping.make("colour", patch, np.array([t_idx[c] for c in stimuli["colour"][patch]]), len(TERMS), n_perm, seed),
        "word": Grouping.make("word", neutral, np.array([t_idx[w] for w in stimuli["word"][neutral]]), len(TERMS), n_perm, seed + 1),
        "text": Grouping.make("text", text_rows, text_lab, 3, n_perm, seed + 2),
    }


def classify(store: ActivationStore, sites: Sequence[str], reduction: str = "cls", alpha: float = 0.05,
             n_perm: int = 20, null_quantile: float = 0.99, seed: int = 0, block_rows: int = 4096,
             progress: bool = False, stimuli: Optional[dict[str, np.ndarray]] = None) -> Census:
    """Run the census over `sites` (each [n, neurons] at `reduction`) of a store captured on the census set.

    `stimuli` overrides the store's label columns (e.g. shuffled labels for a null check).
    """
    if stimuli is None:
        have = set(store.stimuli_columns())
        stimuli = {c: store.column(c) for c in ("set", "colour", "word", "ink", "condition") if c in have}
    groups = census_groupings(stimuli, n_perm, seed)
    n_total = store.n_committed
    if n_total < store.n_rows:
        raise InterpError(f"{store.path} is incomplete ({n_total}/{store.n_rows} rows): finish it with --resume first")
    per_site = []
    it: Iterable[str] = sites
    if progress:
        from tqdm.auto import tqdm

        it = tqdm(sites, desc="census", unit="site")
    for site in it:
        view = store[site, reduction]
        if len(view.shape) != 2:
            raise InterpError(f"{site}:{reduction} has shape {view.shape}; the census needs [n, neurons]")
        accs = {k: _Acc(g, view.shape[1], n_total) for k, g in groups.items()}
        for rows, block in store.iter_blocks(site, reduction, block_rows):
            for a in accs.values():
                a.add(rows.start, block)
        p_c, clsi, pref_c, null_c = _anova(accs["colour"])
        p_w, clsi_w, pref_w, null_w = _anova(accs["word"])
        p_t, tsi, null_t = _welch(accs["text"], 0, 1)
        p_nw, d_nw, _ = _welch(accs["text"], 0, 2)
        per_site.append(dict(site=site, p_c=p_c, clsi=clsi, pref_c=pref_c, null_c=null_c, p_w=p_w, clsi_w=clsi_w,
                             pref_w=pref_w, null_w=null_w, p_t=p_t, tsi=tsi, null_t=null_t, p_nw=p_nw, d_nw=d_nw))
    cat = {k: np.concatenate([d[k] for d in per_site], axis=-1) for k in per_site[0] if k != "site"}
    site_col = np.concatenate([[d["site"]] * len(d["clsi"]) for d in per_site])
    unit = np.concatenate([np.arange(len(d["clsi"])) for d in per_site])
    tau = {"colour": float(np.quantile(cat["null_c"], null_quantile)) if cat["null_c"].size else 0.0,
           "word": float(np.quantile(cat["null_w"], null_quantile)) if cat["null_w"].size else 0.0,
           "text": float(np.quantile(cat["null_t"], null_quantile)) if cat["null_t"].size else 0.0}
    q_c, _ = benjamini_hochberg(cat["p_c"], alpha)
    q_w, _ = benjamini_hochberg(cat["p_w"], alpha)
    q_t, _ = benjamini_hochberg(cat["p_t"], alpha)
    colour_sel = (q_c <= alpha) & (cat["clsi"] > tau["colour"])
    word_colour = (q_w <= alpha) & (cat["clsi_w"] > tau["word"])
    text_cand = (q_t <= alpha) & (cat["tsi"] > tau["text"])
    q_nw = np.full(len(unit), np.nan)
    if text_cand.any():
        q_nw[text_cand] = benjamini_hochberg(cat["p_nw"][text_cand], alpha)[0]
    text_sel = text_cand & (q_nw <= alpha)
    multimodal = colour_sel & word_colour & (cat["pref_c"] == cat["pref_w"])
    cls = np.where(multimodal, "multimodal_colour", np.where(text_sel, "text", np.where(colour_sel, "colour", "none")))
    terms = np.array(TERMS)
    arrays = {"class": cls.astype(object), "colour_selective": colour_sel, "text_selective": text_sel,
              "multimodal_colour": multimodal, "pref_colour": terms[cat["pref_c"]].astype(object),
              "pref_word": terms[cat["pref_w"]].astype(object), "clsi": cat["clsi"], "clsi_words": cat["clsi_w"],
              "tsi": cat["tsi"], "word_vs_nonword": cat["d_nw"], "p_colour": cat["p_c"], "q_colour": q_c,
              "p_words": cat["p_w"], "q_words": q_w, "p_text": cat["p_t"], "q_text": q_t, "q_nonword": q_nw}
    layer = np.array([site_layer(s) for s in site_col])
    return Census(site_col, layer, unit, reduction, arrays, tau, alpha)


def save_census(store_path, census: Census, params: Optional[dict] = None) -> None:
    """Commit the census into the store (crash-safely; it replaces the census at its reduction)."""
    record = CensusRecord(census.reduction, census.site.astype(str), census.unit,
                          {"layer": census.layer, **census.arrays}, census.thresholds,
                          {"alpha": census.alpha, **(params or {})})
    with ActivationStore(store_path, mode="a") as stw:
        stw.write_census(record)


def load_census(store: ActivationStore, reduction: str = "cls") -> Census:
    """Read the census at `reduction` written by save_census."""
    try:
        rec = store.read_census(reduction)
    except StoreKeyError:
        raise InterpError(f"{store.path} holds no census at {reduction}: run `clip-interp neurons classify --store "
                          f"{store.path} --reduction {reduction}` first") from None
    arrays = dict(rec.columns)
    layer = arrays.pop("layer")
    for k in ("class", "pref_colour", "pref_word"):
        arrays[k] = arrays[k].astype(object)
    return Census(rec.site, layer, rec.unit, reduction, arrays, rec.thresholds, float(rec.params["alpha"]))
