"""The causal experiments of the toolkit, end to end: pick units from an analysis, ablate, compare with matched
random controls, and write table + JSON + figure.

- `stroop`: ablate the census's text-selective neurons; measure ink / word naming on the Stroop grid and colour
  naming of plain patches (the control that colour vision survives).
- `colour`: the same for multimodal colour neurons (expected to hurt colour naming).
- `ior`: ablate the heads that put most CLS attention on the large object; measure IOR's large-object preference
  against random heads of the same layers.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Optional, Sequence

import numpy as np
import torch

from activations_store import ActivationStore
from probes.stats import Estimate, accuracy, bootstrap, permutation_p

from .errors import InterpError
from .intervene import HeadAblation, ZeroShotEval, ablation_experiment, stroop_eval
from .models.loaded import LoadedModel

TARGETS = {"text-selective": "text_selective", "multimodal-colour": "multimodal_colour",
           "colour-selective": "colour_selective"}


def target_units(store_path: Path, neurons: str, reduction: str = "cls") -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Units of a census class per site, and their selectivity scores (for the dose-response ordering)."""
    from .analyze.neurons import load_census

    if neurons not in TARGETS:
        raise InterpError(f"unknown neuron class {neurons!r}; use {', '.join(TARGETS)}")
    with ActivationStore(store_path) as st:
        census = load_census(st, reduction)
    flag = census.arrays[TARGETS[neurons]].astype(bool)
    score = census.arrays["tsi"] if neurons == "text-selective" else census.arrays["clsi"]
    units, ranks = {}, {}
    for s in dict.fromkeys(census.site.tolist()):
        m = (census.site == s) & flag
        if m.any():
            units[s], ranks[s] = census.unit[m], score[m]
    return units, ranks


def _plot_ablation(res, metrics: Sequence[str], fig) -> None:
    n = len(metrics) + (1 if res.dose else 0)
    for i, k in enumerate(metrics):
        ax = fig.add_subplot(1, n, i + 1)
        ax.hist(res.random_effects[k], bins=20, color="lightgray", edgecolor="gray", label=f"random sets (n={len(res.random_effects[k])})")
        e = res.effect[k]
        ax.axvline(e.value, color="crimson", lw=2, label="target")
        ax.axvspan(e.lo, e.hi, color="crimson", alpha=0.15)
        ax.set_title(f"{k}\neffect {e.value:+.3f}, p={res.p_value[k]:.3g}", fontsize=9)
        ax.set_xlabel("change in accuracy")
        if i == 0:
            ax.legend(fontsize=7)
    if res.dose:
        ax = fig.add_subplot(1, n, n)
        ks = [r["k"] for r in res.dose]
        for k, c in zip(metrics, ("crimson", "tab:blue", "tab:green", "tab:purple")):
            ax.plot(ks, [r[f"effect_{k}"] for r in res.dose], "o-", color=c, label=k)
            lo = [np.quantile(r[f"random_{k}"], 0.025) for r in res.dose]
            hi = [np.quantile(r[f"random_{k}"], 0.975) for r in res.dose]
            ax.fill_between(ks, lo, hi, color=c, alpha=0.12)
        ax.set_xscale("log")
        ax.set_xlabel("units ablated (top-k by selectivity)")
        ax.set_title("dose-response (band: random sets)", fontsize=9)
        ax.legend(fontsize=7)


def _write(out: Path, name: str, payload: dict, draw) -> list[Path]:
    from .report import _figure

    out.mkdir(parents=True, exist_ok=True)
    (out / f"{name}.json").write_text(json.dumps(payload, indent=1, default=str))
    return [out / f"{name}.json", _figure(out / f"{name}.png", draw, size=(14, 4))]


def neuron_ablation_experiment(lm: LoadedModel, store_path: Path, neurons: str = "text-selective", mode: str = "mean",
                               n_controls: int = 100, dose: Sequence[int] = (1, 3, 10, 30, 100), out: Optional[Path] = None,
                               seed: int = 0, progress: bool = True, reduction: str = "cls") -> tuple[str, dict]:
    """Ablate a census class (from the census at `reduction`) on the Stroop/colour evaluation; returns (text table,
    JSON payload)."""
    units, ranks = target_units(store_path, neurons, reduction)
    if not units:
        raise InterpError(f"the census in {store_path} found no {neurons} neurons: nothing to ablate")
    ev = stroop_eval(lm, seed=seed)
    n_units = sum(len(u) for u in units.values())
    dose = tuple(k for k in dose if k < n_units) + (n_units,) if dose else ()
    res = ablation_experiment(lm, ev, units, mode=mode, n_controls=n_controls, ranking=ranks, dose=dose,
                              dose_controls=min(20, n_controls), seed=seed, progress=progress)
    payload = {"experiment": f"ablate {neurons} (census at {reduction})", "model": lm.spec, "census_reduction": reduction,
               **res.to_json()}
    name = f"ablation_{neurons}_{mode}"
    if out is not None:
        _write(out, name, payload, lambda fig: _plot_ablation(res, ["ink_incongruent", "word_incongruent", "stroop_effect", "colour_patches"], fig))
    return f"{name} on {lm.spec}\n" + res.table(), payload


def single_unit_effects(lm: LoadedModel, store_path: Path, top: int = 24, mode: str = "zero", reduction: str = "cls",
                        seed: int = 0) -> dict[str, dict[str, float]]:
    """Zero-ablate each of the `top` most selective census neurons alone; effect on every Stroop/colour metric
    (for the atlas cards: "site:unit" -> {metric: ablated - baseline, n: stimuli})."""
    from .analyze.neurons import load_census
    from .intervene import neuron_ablation

    with ActivationStore(store_path) as st:
        census = load_census(st, reduction)
    sel = np.flatnonzero(census.cls != "none")
    order = sel[np.argsort(-np.maximum(census.arrays["clsi"][sel], census.arrays["tsi"][sel]))][:top]
    if len(order) == 0:
        return {}
    ev = stroop_eval(lm, seed=seed)
    base = ev.metrics(ev.correct())
    out = {}
    for i in order:
        site, unit = str(census.site[i]), int(census.unit[i])
        m = ev.metrics(ev.correct(neuron_ablation({site: [unit]}, mode)))
        out[f"{site}:{unit}"] = {"mode": mode, **{k: round(m[k] - base[k], 4) for k in base},
                                 "n_stimuli": int(len(ev.images))}
    return out


def _ior_large_wins(lm: LoadedModel, scenes_x: torch.Tensor, refs_x: torch.Tensor, objs, large_pos, classes) -> np.ndarray:
    with torch.no_grad():
        s = torch.nn.functional.normalize(lm.model.encode_image(scenes_x).float(), dim=-1).numpy()
        r = torch.nn.functional.normalize(lm.model.encode_image(refs_x).float(), dim=-1).numpy()
    idx = {c: i for i, c in enumerate(classes)}
    sims = s @ r.T
    win = np.array([int(np.argmax([sims[i, idx[o]] for o in ob])) for i, ob in enumerate(objs)])
    return win == large_pos


def _matched_heads(heads: dict[str, list[int]], sites: list[str], n_heads: int,
                   rng: np.random.Generator) -> dict[str, list[int]]:
    """A random head set standing in for `heads`: each head replaced by a non-target head of its own layer, or of
    any layer once its layer has none left."""
    taken = {(s, h) for s, hs in heads.items() for h in hs}
    out: dict[str, list[int]] = {}
    for site, hs in heads.items():
        for _ in hs:
            free = [h for h in range(n_heads) if (site, h) not in taken]
            pool = [(site, h) for h in free] or [(s, h) for s in sites for h in range(n_heads) if (s, h) not in taken]
            s2, h2 = pool[int(rng.integers(len(pool)))]
            taken.add((s2, h2))
            out.setdefault(s2, []).append(h2)
    return {s: sorted(hs) for s, hs in out.items()}


def ior_head_experiment(lm: LoadedModel, store_path: Path, top_k: int = 3, n_controls: int = 100, n: int = 200,
                        out: Optional[Path] = None, seed: int = 0) -> tuple[str, dict]:
    """Zero-ablate the top-k large-object heads (attention analysis) and measure IOR's large-object preference,
    against random head sets of the same layers."""
    from probes.stimuli import SHAPE_CLASSES, multi_object_scenes, single_objects
    from probes.stimuli.scenes import SEP

    with ActivationStore(store_path) as st:
        arrays, _ = st.read_analysis("attention_mass")
    sites, score = [str(s) for s in arrays["sites"]], arrays["large_minus_small_norm"]  # [L, H]
    flat = np.argsort(-score, axis=None)[:top_k]
    heads: dict[str, list[int]] = {}
    for f in flat:
        li, h = np.unravel_index(f, score.shape)
        heads.setdefault(sites[li], []).append(int(h))
    size = lm.image_size[0]
    sc = multi_object_scenes(n=n, seed=seed + 11, size=size, order="random", n_objects=(2, 3, 4))
    refs = single_objects(SHAPE_CLASSES, size=size, seed=seed + 12)
    sx, rx = lm.images_to_tensor(sc.images(range(len(sc)))), lm.images_to_tensor(refs.images(range(len(refs))))
    objs = [o.split(SEP) for o in sc.column("objects")]
    lp = sc.column("large_pos")
    base = _ior_large_wins(lm, sx, rx, objs, lp, SHAPE_CLASSES)
    with HeadAblation(lm, heads):
        abl = _ior_large_wins(lm, sx, rx, objs, lp, SHAPE_CLASSES)
    rng = np.random.default_rng(seed)
    n_heads = score.shape[1]
    all_sites = sites
    rand = []
    for _ in range(n_controls):
        rh = _matched_heads(heads, all_sites, n_heads, rng)
        with HeadAblation(lm, rh):
            rand.append(_ior_large_wins(lm, sx, rx, objs, lp, SHAPE_CLASSES).mean() - base.mean())
    rand = np.array(rand)
    eff = bootstrap(lambda r: float(r.mean()), abl.astype(float) - base, 1000, seed)
    p = permutation_p(eff.value - rand.mean(), rand - rand.mean(), "two-sided")
    payload = {"experiment": "ablate large-object heads (IOR)", "model": lm.spec, "heads": heads,
               "baseline": accuracy(base).as_dict(), "ablated": accuracy(abl).as_dict(), "effect": eff.as_dict(),
               "random_sets": {"mean": float(rand.mean()), "lo": float(np.quantile(rand, .025)),
                               "hi": float(np.quantile(rand, .975)), "n_sets": n_controls}, "p_value": p}
    text = (f"IOR large-object preference on {lm.spec}: heads {heads}\n  base {base.mean():.3f} -> {abl.mean():.3f}  "
            f"effect {eff.value:+.3f} [{eff.lo:+.3f}, {eff.hi:+.3f}]  random {rand.mean():+.3f} "
            f"[{np.quantile(rand, .025):+.3f}, {np.quantile(rand, .975):+.3f}]  p={p:.3g}  (n={len(base)})")
    if out is not None:
        def draw(fig):
            ax = fig.add_subplot(1, 1, 1)
            ax.hist(rand, bins=20, color="lightgray", edgecolor="gray", label=f"random head sets (n={n_controls})")
            ax.axvline(eff.value, color="crimson", lw=2, label="large-object heads")
            ax.axvspan(eff.lo, eff.hi, color="crimson", alpha=0.15)
            ax.set_xlabel("change in IOR large-object preference")
            ax.legend()
        _write(out, "ablation_ior_heads", payload, draw)
    return text, payload
