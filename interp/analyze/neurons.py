"""Neuron census: colour-selective, text-selective and multimodal colour neurons, tested on stimulus cells.

One streaming pass over row blocks of the store sums activations per stimulus *cell* (jittered copies of one
stimulus are one cell; README "Selectivity indices"), so the census runs out of core and no test counts a copy as
an independent observation. On the cell means:

- colour-selective: one-way ANOVA over the 11 figure colours of the colour patches (each patch its own cell),
  Benjamini-Hochberg (BH) across all neurons, and the Colour-Label Selectivity Index
  CLSI = (mean of the preferred colour - mean of the others) / pooled within-colour SD above tau_colour.
- text-selective: words beat their scrambled strokes (same ink, same ink amount, same extent, no letters) AND
  words beat their anagrams (same letters and ink, no word). Both are paired within base cells (word x ink x
  background x font) and tested across the word identities: every cell of one word reuses the same two strings, so
  a unit that responds to the shape of particular strings gives the same difference in all of them — the word, not
  the cell, is the unit a claim about text generalises over. One-sided t-test on the per-word mean differences
  (11 words: 10 df), BH, and d_z = mean / SD of the per-word differences above its threshold. How many of the words
  show the preference is reported (`words_above_anagram`).
- word-selective (colour words in neutral ink): the same ANOVA over the 11 words; CLSI_words above tau_word.
- multimodal colour: colour-selective and word-selective, and the tuning curves agree beyond chance: the Pearson
  correlation of the patch tuning with the word tuning over the 10 colours other than the patch-preferred one,
  permutation p over orderings of the words, BH among the candidates (`tuning_agreement` says why the peak is left
  out). The count of candidates that share a preferred colour (the old rule) is reported beside the
  number expected by chance from the preferred-colour frequencies.

Thresholds: for each index, the `null_quantile` of that index under permuted labels (ANOVA indices: random
permutations of cell labels; paired indices: every sign flip of the per-word differences, 2^11), pooled over
neurons, where every permuted index is divided by *its own* permuted SD — so the threshold does not grow with the
share of selective neurons in the store.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from itertools import product
from typing import Iterable, Optional, Sequence

import numpy as np
from scipy import sparse
from scipy import stats as st

from activations_store import ActivationStore, CensusRecord, StoreKeyError
from probes.stats import benjamini_hochberg
from probes.stimuli.colours import TERMS

from ..errors import InterpError
from ..models.sites import site_layer

CLASSES = ("multimodal_colour", "text", "colour", "none")
NEED = ("id", "set", "colour", "word", "ink", "condition", "cell")


@dataclass
class CensusDesign:
    """Which store rows form which stimulus cell, and which cells each test compares."""

    cell_of_row: np.ndarray                   # [rows] cell index, -1 for rows no test uses
    n_cells: int
    colour_cells: np.ndarray                  # patch cells
    colour_labels: np.ndarray                 # term index per patch cell
    word_cells: np.ndarray                    # neutral-ink word cells
    word_labels: np.ndarray                   # term index per neutral-ink word cell
    pairs: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = field(default_factory=dict)
    # contrast -> (word cells, control cells, word identity per pair)

    def describe(self) -> dict[str, int]:
        """Cell counts per test (for the report)."""
        out = {"colour_patch_cells": int(len(self.colour_cells)), "neutral_word_cells": int(len(self.word_cells))}
        for k, (a, _, w) in self.pairs.items():
            out[f"{k}_pairs"] = int(len(a))
            out[f"{k}_words"] = int(len(np.unique(w)))
        return out


def census_design(stimuli: dict[str, np.ndarray] | Iterable[dict[str, np.ndarray]]) -> CensusDesign:
    """The census design from the stimulus columns of a store captured on `probes.stimuli.census_set`: a dict of
    whole columns, or an iterable of consecutive row blocks of them (so a 10^7-row store keeps 4 bytes per row)."""
    blocks = [stimuli] if isinstance(stimuli, dict) else stimuli
    t_idx = {t: i for i, t in enumerate(TERMS)}
    index: dict[str, int] = {}
    labels: list[tuple[str, str, str]] = []  # per cell: (colour, word, ink) of its first row
    parts = []
    for b in blocks:
        missing = [c for c in NEED if c not in b]
        if missing:
            raise InterpError(f"the store lacks stimulus columns {missing}: capture the census stimuli (`clip-interp cache "
                              "--stimuli census ...`; stores captured before the matched text contrast must be recaptured)")
        s, cond = np.asarray(b["set"]).astype(str), np.asarray(b["condition"]).astype(str)
        cellcol, colour = np.asarray(b["cell"]).astype(str), np.asarray(b["colour"]).astype(str)
        ident = np.asarray(b["id"]).astype(str)
        word, ink = np.asarray(b["word"]).astype(str), np.asarray(b["ink"]).astype(str)
        out = np.full(len(s), -1, np.int32)
        rows = np.flatnonzero((s == "colour_patches") | (s == "text_contrast"))
        # every patch is an independent draw (copies share its id); a text cell is its condition and base cell
        keys = np.where(s[rows] == "colour_patches", np.char.add("patch|", ident[rows]),
                        np.char.add(np.char.add(cond[rows], "|"), cellcol[rows]))
        uniq, first, inv = np.unique(keys, return_index=True, return_inverse=True)
        ids = np.empty(len(uniq), np.int32)
        for u, (key, r) in enumerate(zip(uniq.tolist(), rows[first])):
            c = index.get(key)
            if c is None:
                c = index[key] = len(labels)
                labels.append((colour[r], word[r], ink[r]))
            ids[u] = c
        out[rows] = ids[inv.ravel()]
        parts.append(out)
    names = list(index)
    kind = np.array([nm.split("|", 1)[0] for nm in names])
    colour_cells = np.flatnonzero(kind == "patch")
    colour_labels = np.array([t_idx[labels[c][0]] for c in colour_cells], np.int64)
    word_cells = np.flatnonzero(kind == "text_word")
    neutral = np.array([c for c in word_cells if labels[c][2] == "neutral"], np.int64)
    design = CensusDesign(np.concatenate(parts) if parts else np.zeros(0, np.int32), len(names), colour_cells,
                          colour_labels, neutral, np.array([t_idx[labels[c][1]] for c in neutral], np.int64))
    for contrast, other in (("strokes", "text_strokes"), ("anagram", "text_anagram")):
        a, b_, w = [], [], []
        for c in word_cells:
            partner = index.get(f"{other}|{names[c].split('|', 1)[1]}")
            if partner is not None:
                a.append(c), b_.append(partner), w.append(t_idx[labels[c][1]])
        design.pairs[contrast] = (np.array(a, np.int64), np.array(b_, np.int64), np.array(w, np.int64))
    if len(colour_cells) < 2 * len(TERMS) or len(np.unique(colour_labels)) < len(TERMS):
        raise InterpError(f"too few colour-patch cells ({len(colour_cells)}): the census needs at least two per colour "
                          "term (stores captured before the matched text contrast must be recaptured)")
    if len(np.unique(design.word_labels)) < len(TERMS) or len(neutral) < 2 * len(TERMS):
        raise InterpError(f"too few neutral-ink word cells ({len(neutral)}): the census needs at least two per colour "
                          "word (stores captured before the matched text contrast must be recaptured)")
    for k, (a, _, w) in design.pairs.items():
        if len(np.unique(w)) < 6:
            raise InterpError(f"the text contrast words vs {k} covers {len(np.unique(w))} words; the census needs >= 6")
    return design


def store_design(store: ActivationStore, block_rows: int = 1 << 16) -> CensusDesign:
    """The census design of a store, its label columns streamed in row blocks."""
    have = set(store.stimuli_columns())
    missing = [c for c in NEED if c not in have]
    if missing:
        return census_design({c: store.column(c) for c in have})  # raises, naming what is missing
    n = store.n_rows
    return census_design({c: store.column_rows(c, slice(lo, min(n, lo + block_rows))) for c in NEED}
                         for lo in range(0, n, block_rows))


# ------------------------------------------------------------------------------------------------ statistics
def _onehot(labels: np.ndarray, k: int) -> np.ndarray:
    return np.eye(k)[labels]


def anova_index(x: np.ndarray, labels: np.ndarray, k: int, perms: np.ndarray
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """One-way ANOVA of cells x[m, neurons] over `labels` (k groups): (F-test p, CLSI, preferred group, null CLSI
    [B, neurons] under the permuted labels `perms[B, m]`, each divided by its own permuted within-group SD)."""
    m = len(labels)
    total_ss = (x * x).sum(0)
    grand = x.sum(0)

    def index(oh: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        n_k = oh.sum(0)[:, None]  # [k, 1]
        sums = oh.T @ x  # [k, neurons]
        means = sums / np.maximum(n_k, 1)
        ss_between_raw = (sums ** 2 / np.maximum(n_k, 1)).sum(0)
        ss_within = np.maximum(total_ss - ss_between_raw, 1e-12)
        sd = np.sqrt(ss_within / max(m - k, 1))
        pref = means.argmax(0)
        top = np.take_along_axis(means, pref[None], 0)[0]
        top_n = n_k[pref, 0]
        rest = (grand - top * top_n) / np.maximum(m - top_n, 1)
        f = ((ss_between_raw - grand ** 2 / m) / (k - 1)) / (ss_within / max(m - k, 1))
        return (top - rest) / sd, pref, f

    clsi, pref, f = index(_onehot(labels, k))
    p = st.f.sf(np.maximum(f, 0), k - 1, max(m - k, 1))
    null = np.stack([index(_onehot(b, k))[0] for b in perms]) if len(perms) else np.zeros((0, x.shape[1]))
    return p, clsi, pref, null


def paired_index(diff: np.ndarray, flips: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Paired test of diff[units, neurons] > 0 (here one row per word: its mean word-minus-control difference).
    Returns (one-sided t-test p, d_z = mean / SD, null d_z [F, neurons] under the sign flips `flips[F, units]`, each
    divided by its own SD)."""
    w = len(diff)
    sq = (diff ** 2).sum(0)

    def dz(mean: np.ndarray) -> np.ndarray:
        sd = np.sqrt(np.maximum(sq - w * mean ** 2, 0) / max(w - 1, 1))
        return np.where(sd > 1e-12, mean / np.maximum(sd, 1e-12), 0.0)

    mean = diff.mean(0)
    d = dz(mean)
    p = st.t.sf(d * np.sqrt(w), max(w - 1, 1))
    null = np.stack([dz(m_) for m_ in (flips @ diff) / w]) if len(flips) else np.zeros((0, diff.shape[1]))
    return p, d, null


def tuning_agreement(a: np.ndarray, b: np.ndarray, n_perm: int, seed: int, chunk: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """Agreement of tuning curves a[k, neurons] (patches) and b[k, neurons] (words) beyond a shared peak: Pearson r
    over the k - 1 colours other than a's preferred one, and the one-sided permutation p ((1 + #{r_perm >= r}) /
    (1 + n_perm)) over random orderings of b's remaining points.

    Leaving a's peak out is what makes the null exact when both curves peak on one colour by chance (1 time in k
    for independent tunings): given the peaks, the other points of an independent curve are still exchangeable. A
    unit tuned to a single colour, flat elsewhere, therefore shows no agreement: one shared peak cannot be told from
    a coincidence."""
    k, n = a.shape
    if n == 0:
        return np.zeros(0), np.zeros(0)
    others = np.array([[j for j in range(k) if j != i] for i in range(k)])  # [k, k-1]
    rest = others[a.argmax(0)].T  # [k-1, neurons]
    a, b = np.take_along_axis(a, rest, 0), np.take_along_axis(b, rest, 0)
    za = (a - a.mean(0)) / np.maximum(a.std(0), 1e-12)
    zb = (b - b.mean(0)) / np.maximum(b.std(0), 1e-12)
    r = (za * zb).mean(0)
    rng = np.random.default_rng(seed)
    perms = np.stack([rng.permutation(k - 1) for _ in range(n_perm)])  # [B, k-1]
    hits = np.zeros(n)
    for lo in range(0, n_perm, chunk):
        pb = zb[perms[lo : lo + chunk]]  # [b, k-1, neurons]
        hits += ((pb * za[None]).mean(1) >= r[None] - 1e-12).sum(0)
    return r, (1 + hits) / (1 + n_perm)


def sign_flips(w: int, n: int, rng: np.random.Generator) -> np.ndarray:
    """All 2^w sign vectors [2^w, w] when there are at most `n`, else `n` random ones (the threshold's null)."""
    if w < 30 and 2 ** w <= n:
        return np.array(list(product((1.0, -1.0), repeat=w)))
    return rng.choice((1.0, -1.0), size=(n, w))


# ------------------------------------------------------------------------------------------------ census
@dataclass
class Census:
    """Per-neuron records of one census (arrays aligned on `site`/`unit`), the thresholds and the design numbers."""

    site: np.ndarray
    layer: np.ndarray
    unit: np.ndarray
    reduction: str
    arrays: dict[str, np.ndarray]
    thresholds: dict[str, float]
    alpha: float
    design: dict = field(default_factory=dict)

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


def cell_means(store: ActivationStore, site: str, reduction: str, design: CensusDesign, block_rows: int = 4096) -> np.ndarray:
    """Mean activation per stimulus cell [cells, neurons] of one site, streamed over row blocks (float64 sums)."""
    view = store[site, reduction]
    if len(view.shape) != 2:
        raise InterpError(f"{site}:{reduction} has shape {view.shape}; the census needs [n, neurons]")
    sums = np.zeros((design.n_cells, view.shape[1]))
    counts = np.zeros(design.n_cells)
    for rows, block in store.iter_blocks(site, reduction, block_rows):
        c = design.cell_of_row[rows.start : rows.start + len(block)]
        keep = np.flatnonzero(c >= 0)
        if not len(keep):
            continue
        ind = sparse.csr_matrix((np.ones(len(keep)), (c[keep], np.arange(len(keep)))), shape=(design.n_cells, len(keep)))
        sums += ind @ block[keep].astype(np.float64)
        counts += np.bincount(c[keep], minlength=design.n_cells)
    if (counts == 0).any():
        raise InterpError(f"{store.path}: {int((counts == 0).sum())} census cells have no committed rows")
    return sums / counts[:, None]


def _per_word(x: np.ndarray, words: np.ndarray) -> np.ndarray:
    uniq = np.unique(words)
    return np.stack([x[words == w].mean(0) for w in uniq])


def classify(store: ActivationStore, sites: Sequence[str], reduction: str = "cls", alpha: float = 0.05,
             n_perm: int = 200, null_quantile: float = 0.99, seed: int = 0, block_rows: int = 4096,
             progress: bool = False, stimuli: Optional[dict[str, np.ndarray]] = None,
             tuning_perm: int = 9999) -> Census:
    """Run the census over `sites` (each [n, neurons] at `reduction`) of a store captured on the census set.

    `stimuli` overrides the store's label columns (e.g. shuffled labels for a null check); `n_perm` permutations
    set the ANOVA thresholds, `tuning_perm` orderings the tuning-agreement p-values.
    """
    if not sites:
        raise InterpError(f"no sites to classify in {store.path}: give at least one [n, neurons] site")
    design = store_design(store) if stimuli is None else census_design(stimuli)
    if store.n_committed < store.n_rows:
        raise InterpError(f"{store.path} is incomplete ({store.n_committed}/{store.n_rows} rows): finish it with --resume first")
    k = len(TERMS)
    rng = np.random.default_rng(seed)
    perm_c = np.stack([rng.permutation(design.colour_labels) for _ in range(n_perm)]) if n_perm else np.zeros((0, 0), int)
    perm_w = np.stack([rng.permutation(design.word_labels) for _ in range(n_perm)]) if n_perm else np.zeros((0, 0), int)
    flips = {c: sign_flips(len(np.unique(w)), 4096, rng) for c, (_, _, w) in design.pairs.items()}  # 2^11: exact
    per_site = []
    it: Iterable[str] = sites
    if progress:
        from tqdm.auto import tqdm

        it = tqdm(sites, desc="census", unit="site")
    for site in it:
        m = cell_means(store, site, reduction, design, block_rows)
        d = {"site": site}
        d["p_c"], d["clsi"], d["pref_c"], d["null_c"] = anova_index(m[design.colour_cells], design.colour_labels, k, perm_c)
        d["p_w"], d["clsi_w"], d["pref_w"], d["null_w"] = anova_index(m[design.word_cells], design.word_labels, k, perm_w)
        d["tune_c"] = _per_word(m[design.colour_cells], design.colour_labels)  # [k, neurons] tuning curves
        d["tune_w"] = _per_word(m[design.word_cells], design.word_labels)
        for c, (a, b, w) in design.pairs.items():
            per_word = _per_word(m[a] - m[b], w)  # [words, neurons]
            d[f"p_{c}"], d[f"d_{c}"], d[f"null_{c}"] = paired_index(per_word, flips[c])
            d[f"words_{c}"] = (per_word > 0).sum(0)
        per_site.append(d)
    cat = {key: np.concatenate([d[key] for d in per_site], axis=-1) for key in per_site[0] if key != "site"}
    site_col = np.concatenate([[d["site"]] * len(d["clsi"]) for d in per_site])
    unit = np.concatenate([np.arange(len(d["clsi"])) for d in per_site])

    def tau(null: np.ndarray) -> float:
        return float(np.quantile(null, null_quantile)) if null.size else 0.0

    th = {"colour": tau(cat["null_c"]), "word": tau(cat["null_w"]), "text_strokes": tau(cat["null_strokes"]),
          "text_anagram": tau(cat["null_anagram"])}
    q = {key: benjamini_hochberg(cat[f"p_{key}"], alpha)[0] for key in ("c", "w", "strokes", "anagram")}
    colour_sel = (q["c"] <= alpha) & (cat["clsi"] > th["colour"])
    word_sel = (q["w"] <= alpha) & (cat["clsi_w"] > th["word"])
    beats_strokes = (q["strokes"] <= alpha) & (cat["d_strokes"] > th["text_strokes"])
    beats_anagram = (q["anagram"] <= alpha) & (cat["d_anagram"] > th["text_anagram"])
    text_sel = beats_strokes & beats_anagram
    cand = colour_sel & word_sel
    r_tune = np.full(len(unit), np.nan)
    p_tune = np.full(len(unit), np.nan)
    q_tune = np.full(len(unit), np.nan)
    if cand.any():
        r_tune[cand], p_tune[cand] = tuning_agreement(cat["tune_c"][:, cand], cat["tune_w"][:, cand], tuning_perm, seed + 7)
        q_tune[cand] = benjamini_hochberg(p_tune[cand], alpha)[0]
    multimodal = cand & (q_tune <= alpha) & (r_tune > 0)
    same_pref = cand & (cat["pref_c"] == cat["pref_w"])
    # what the old rule (same preferred colour) finds by chance: independent preferences, observed marginals
    fc = np.bincount(cat["pref_c"][cand], minlength=k) / max(cand.sum(), 1)
    fw = np.bincount(cat["pref_w"][cand], minlength=k) / max(cand.sum(), 1)
    cls = np.where(multimodal, "multimodal_colour", np.where(text_sel, "text", np.where(colour_sel, "colour", "none")))
    terms = np.array(TERMS)
    arrays = {"class": cls.astype(object), "colour_selective": colour_sel, "text_selective": text_sel,
              "word_selective": word_sel, "multimodal_colour": multimodal, "pref_colour": terms[cat["pref_c"]].astype(object),
              "pref_word": terms[cat["pref_w"]].astype(object), "clsi": cat["clsi"], "clsi_words": cat["clsi_w"],
              "tsi": cat["d_strokes"], "tsi_anagram": cat["d_anagram"], "words_above_strokes": cat["words_strokes"],
              "words_above_anagram": cat["words_anagram"], "tuning_r": r_tune,
              "p_colour": cat["p_c"], "q_colour": q["c"], "p_words": cat["p_w"], "q_words": q["w"],
              "p_text": cat["p_strokes"], "q_text": q["strokes"], "p_anagram": cat["p_anagram"], "q_anagram": q["anagram"],
              "p_tuning": p_tune, "q_tuning": q_tune}
    summary = {**design.describe(), "permutations": int(n_perm), "sign_flips": int(len(next(iter(flips.values())))),
               "tuning_permutations": int(tuning_perm), "null_quantile": null_quantile,
               "beats_strokes": int(beats_strokes.sum()), "beats_anagram": int(beats_anagram.sum()),
               "multimodal_candidates": int(cand.sum()), "same_preferred_colour": int(same_pref.sum()),
               "same_preferred_expected_by_chance": round(float(cand.sum() * (fc * fw).sum()), 2),
               "multimodal_false_calls_bound": round(float(alpha * multimodal.sum()), 2)}
    layer = np.array([site_layer(s) for s in site_col])
    return Census(site_col, layer, unit, reduction, arrays, th, alpha, summary)


def save_census(store_path, census: Census, params: Optional[dict] = None) -> None:
    """Commit the census into the store (crash-safely; it replaces the census at its reduction)."""
    record = CensusRecord(census.reduction, census.site.astype(str), census.unit,
                          {"layer": census.layer, **census.arrays}, census.thresholds,
                          {"alpha": census.alpha, "design": json.dumps(census.design), **(params or {})})
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
    if "tsi_anagram" not in arrays:
        raise InterpError(f"the census at {reduction} in {store.path} predates the matched text contrast: rerun "
                          f"`clip-interp neurons classify --store {store.path} --reduction {reduction}`")
    for key in ("class", "pref_colour", "pref_word"):
        arrays[key] = arrays[key].astype(object)
    design = rec.params.get("design", "{}")
    return Census(rec.site, layer, rec.unit, reduction, arrays, rec.thresholds, float(rec.params["alpha"]),
                  json.loads(design) if isinstance(design, str) else dict(design))
