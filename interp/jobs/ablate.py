"""Causal experiments as jobs: pick units from an analysis, intervene on them, and compare with matched random
control sets through the one control engine (`interp.intervene.controls`). Declared once in `EXPERIMENTS`; the
`ablate` command, the main job's stages and the report follow from it.

- `stroop`: ablate the census's text-selective units; measure ink / word naming, the Stroop effect, interference,
  facilitation, word intrusion and the ink-vs-word margin on held-out Stroop images, and colour naming of plain
  patches (the control that colour vision survives).
- `colour`: the same for multimodal colour units (expected to hurt colour naming).
- `ior`: ablate the heads that put most CLS attention on the large object; measure IOR's large-object preference.

The Stroop experiments keep three disjoint stimulus sets (`interp.intervene.evals`): the census selects the units,
a reference set (another seed, jittered) gives the mean-ablation replacement and the perturbation sizes, and the
evaluation set (other seeds, jittered, a font size neither uses) measures every effect. The result says which set
did what, and the sets are checked to share no image.
"""
from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Optional

import numpy as np

from activations_store import ActivationStore
from probes.stats import n_text

from ..errors import InterpError
from ..intervene.controls import ControlResult, UnitSet, run_controls
from ..models.loaded import LoadedModel
from .figures import control_histograms, dose_response, histogram_size, save_figure
from .registry import Command, Context, Figure, Job, Rendered, command, register

if TYPE_CHECKING:
    from ..intervene.evals import ZeroShotEval

CENSUS_CLASSES = {"text-selective": "text_selective", "multimodal-colour": "multimodal_colour",
                  "colour-selective": "colour_selective"}


@dataclass(frozen=True)
class Selection:
    """The target units an analysis picked, their scores (for the dose-response) and how they were picked."""

    units: UnitSet
    ranking: dict[str, np.ndarray]
    how: str


@dataclass(frozen=True)
class Experiment:
    """One causal experiment: where its targets come from, what it measures, and how its units are intervened on."""

    name: str
    title: str
    source: str  # the job whose store holds the analysis that picks the targets
    select: Callable[[Path, argparse.Namespace], Selection]
    evaluation: Callable[[LoadedModel, int], object]  # -> ZeroShotEval
    unit_kind: str  # "neuron" (neurons or channels, by architecture) or "head"
    shown: tuple[str, ...]
    claim: str
    mode: str = "mean"
    store: str = "capture-census"  # the main-job stage whose store holds the analysis
    defaults: tuple[tuple[str, object], ...] = (("heads", 3), ("neurons", None))  # options the main job uses
    # (a "reduction" default picks the census; without one the main job takes its first census: CLS where it exists)


EXPERIMENTS: dict[str, Experiment] = {}


def census_targets(store_path: Path, neurons: str, reduction: str) -> Selection:
    """Units of a census class per site, with their selectivity scores."""
    from ..analyze.neurons import load_census

    if neurons not in CENSUS_CLASSES:
        raise InterpError(f"unknown unit class {neurons!r}; use {', '.join(CENSUS_CLASSES)}")
    with ActivationStore(store_path) as st:
        census = load_census(st, reduction)
    flag = census.arrays[CENSUS_CLASSES[neurons]].astype(bool)
    score = census.arrays["tsi"] if neurons == "text-selective" else census.arrays["clsi"]
    units, ranks = {}, {}
    for s in dict.fromkeys(census.site.tolist()):
        m = (census.site == s) & flag
        if m.any():
            units[s], ranks[s] = census.unit[m].astype(np.int64), score[m]
    if not units:
        raise InterpError(f"the census at {reduction} in {store_path} found no {neurons} units: nothing to ablate")
    return Selection(units, ranks, f"{neurons} units of the census at {reduction}")


def attention_targets(store_path: Path, top_k: int) -> Selection:
    """The `top_k` heads with the largest area-normalised CLS attention on the large object minus the small ones."""
    from ..analyze.attention import load_attention_mass

    with ActivationStore(store_path) as st:
        rec = load_attention_mass(st)
    sites, score = list(rec.sites), np.asarray(rec.large_minus_small_norm)  # score[L, H]
    flat = np.argsort(-score, axis=None)[:top_k]
    units: dict[str, list[int]] = {}
    ranks: dict[str, list[float]] = {}
    for f in flat:
        li, h = np.unravel_index(f, score.shape)
        units.setdefault(sites[li], []).append(int(h))
        ranks.setdefault(sites[li], []).append(float(score[li, h]))
    order = {s: np.argsort(u) for s, u in units.items()}
    return Selection({s: np.asarray(u)[order[s]] for s, u in units.items()},
                     {s: np.asarray(ranks[s])[order[s]] for s in units}, f"top {top_k} large-object heads")


def _stroop_eval(lm: LoadedModel, seed: int):
    from ..intervene.evals import stroop_eval

    return stroop_eval(lm, seed=seed)


def _ior_eval(lm: LoadedModel, seed: int):
    from ..intervene.evals import ior_eval

    return ior_eval(lm, seed=seed + 11)


def declare(exp: Experiment) -> Experiment:
    """Add an experiment (and its main-job stage)."""
    if exp.name in EXPERIMENTS:
        raise InterpError(f"experiment {exp.name!r} is declared twice")
    EXPERIMENTS[exp.name] = exp
    register(Job(f"ablation-{exp.name}", "experiment", exp.title, lambda ctx, e=exp: _job_run(ctx, e),
                 lambda r, e=exp: summary(e, r), lambda r, e=exp: render(e, r), needs=tuple(dict.fromkeys((exp.source, exp.store))),
                 options=("controls", "seed"), description=exp.claim))
    return exp


def run_experiment(exp: Experiment, lm: LoadedModel, store_path: Path, opts: argparse.Namespace, n_controls: int,
                   out: Optional[Path], seed: int = 0, progress: bool = True, dose_response: bool = True) -> dict:
    """Select targets, run the control engine, write JSON + figures (+ per-item outcomes into the store)."""
    from ..intervene.units import head_units, neuron_units

    sel = exp.select(store_path, opts)
    ev = exp.evaluation(lm, seed)
    stimuli = stimulus_sets(ev, store_path)
    mode = getattr(opts, "mode", None) or exp.mode
    # the mean-ablation replacement and the perturbation sizes come from the reference set where the evaluation
    # has one, never from the images the effect is measured on
    ref = ev.images if ev.reference is None else lm.images_to_tensor(ev.reference.images(range(len(ev.reference))))
    if exp.unit_kind == "head":
        mode = "zero" if mode not in ("zero", "mean") else mode
        pattern_sites = [s for s, i in lm.sites().items() if i.kind == "pattern" and i.tower == "visual"
                         and "object_mass" in i.reductions]
        pool, intervene = head_units(lm, ref, pattern_sites, mode)
    else:
        pool, intervene = neuron_units(lm, ref, list(sel.units), mode, seed)
    del ref
    n_units = sum(len(u) for u in sel.units.values())
    dose = tuple(k for k in (1, 3, 10, 30, 100) if k < n_units) + (n_units,) if (dose_response and n_controls >= 20
                                                                                       and n_units > 1) else ()
    res = run_controls(ev.evaluation(exp.claim), intervene, sel.units, pool, n_sets=n_controls, seed=seed,
                       ranking=sel.ranking, dose=dose, dose_sets=min(20, n_controls), progress=progress,
                       info={"experiment": exp.name, "model": lm.spec, "selection": sel.how, "mode": mode,
                             "stimuli": stimuli})
    payload = res.to_json()
    # the store keeps the result beside the analysis that picked the targets, with every control set's per-item
    # outcomes, so the statistics can be recomputed without rerunning a model
    with ActivationStore(store_path, mode="a") as st:
        st.write_experiment(f"ablation_{exp.name}", json.loads(json.dumps(payload, default=str)),
                            {**{f"random_{t}": v for t, v in res.random_items.items()},
                             **{f"base_{t}": v for t, v in res.base_items.items()},
                             **{f"target_{t}": v for t, v in res.target_items.items()}})
    if out is not None:
        write_result(exp, res, payload, out)
    return payload


def stimulus_sets(ev: ZeroShotEval, store_path: Path) -> dict:
    """Which stimuli did what: the selection (the store's stimulus set, rebuilt from its recipe), the reference and
    the evaluation, checked to be disjoint (pixel hashes) with a held-out font where the design has one. Reference
    images identical to a selection image (a jitter that rounds to no shift) are dropped from `ev.reference` first."""
    from probes.stimuli import rebuild

    from ..intervene.evals import check_held_out, image_hashes

    with ActivationStore(store_path) as st:
        recipe = st.stimulus_recipe
    selection = rebuild(recipe) if recipe else None
    sel_desc = {"role": "selection", "purpose": "the analysis that picked the target units"}
    if selection is None:
        sel_desc["note"] = "the store records no stimulus recipe: the selection set cannot be described or checked"
    else:
        args = recipe.get("args", {})
        size = args.get("size") or selection.image_size
        px = sorted({int(v) for v in np.asarray(selection.columns.get("font_px", []), int).tolist() if v > 0})
        sel_desc.update({"builder": recipe.get("builder"), "seeds": [args.get("seed")], "n": len(selection),
                         "fonts": sorted({round(v / size, 2) for v in px}), "font_px": px, "args": args})
    out = {"selection": sel_desc}
    if ev.reference is None:
        out["reference"] = {"role": "reference", "purpose": "the intervention's replacement and perturbation sizes",
                            "note": "the evaluation images (this experiment has no separate reference set)"}
        out["evaluation"] = {"role": "evaluation", "n": int(len(ev.images))}
        return out
    out.update({k: dict(v) for k, v in ev.sets.items()})
    if selection is not None:
        seen = set(image_hashes(selection))
        keep = [i for i, h in enumerate(image_hashes(ev.reference)) if h not in seen]
        if len(keep) < len(ev.reference):
            out["reference"]["dropped"] = (f"{len(ev.reference) - len(keep)} images identical to selection images "
                                           "(a position jitter that rounds to no shift)")
            ev.reference = ev.reference.subset(keep)
            out["reference"]["n"] = len(keep)
    out["disjoint"] = check_held_out({"selection": selection, "reference": ev.reference, "evaluation": ev.stimuli})
    return out


def write_result(exp: Experiment, res: ControlResult, payload: dict, out: Path) -> None:
    """ablation_<name>.json, the control histogram and the dose-response figures."""
    out.mkdir(parents=True, exist_ok=True)
    (out / f"ablation_{exp.name}.json").write_text(json.dumps(payload, indent=1, default=str))
    shown = [m for m in exp.shown if m in payload["effect"]]
    save_figure(out / f"ablation_{exp.name}.png",
                lambda fig: control_histograms(fig, payload["effect"], res.random_effects, shown, payload["tests"]),
                size=histogram_size(len(shown)))
    if payload["dose_response"]:
        save_figure(out / f"ablation_{exp.name}_dose.png", lambda fig: dose_response(fig, payload["dose_response"], shown),
                    size=(6, 4))


def _job_run(ctx: Context, exp: Experiment) -> dict:
    src = ctx.results[exp.source]
    if "skipped" in src:
        return {"skipped": f"{exp.source} did not run: {src['skipped']}"}
    store = Path(ctx.results[exp.store]["store"])
    reductions = ctx.results["census"]["reductions"]
    defaults = dict(exp.defaults)
    # the zero-shot decision reads the CLS embedding, so units are picked by the CLS census where there is one
    reduction = defaults.pop("reduction", reductions[0])
    opts = argparse.Namespace(reduction=reduction if reduction in reductions else reductions[0], mode=exp.mode,
                              **defaults)
    try:
        return run_experiment(exp, ctx.lm, store, opts, ctx.controls, ctx.folder("ablation"), ctx.seed, ctx.progress)
    except InterpError as exc:  # no targets: say why instead of failing the whole job
        return {"skipped": str(exc)}


def _e(d: dict) -> str:
    return f"{d['value']:+.3f} [{d['lo']:+.3f}, {d['hi']:+.3f}]"


def _set_text(d: dict) -> str:
    """One stimulus set in a few words: builders, seeds, fonts, position jitter, n."""
    if "builder" not in d and "parts" not in d:
        return d.get("note", "?")
    builders = d.get("builder") or " + ".join(dict.fromkeys(p["builder"] for p in d["parts"]))
    seeds = [x for x in d.get("seeds", []) if x is not None]
    bits = [f"seed{'s' if len(seeds) > 1 else ''} {', '.join(map(str, seeds))}"] if seeds else []
    if d.get("fonts"):
        bits.append(f"fonts {'/'.join(f'{f:g}' for f in d['fonts'])}")
    jit = sorted({p.get("position_jitter") for p in d.get("parts", []) if p.get("position_jitter")})
    if jit:
        bits.append(f"position jitter ±{'/'.join(f'{j:g}' for j in jit)}")
    bits.append(f"n={d.get('n')}")
    return f"{builders} ({', '.join(bits)})"


def summary(exp: Experiment, r: dict) -> str:
    """One sentence per experiment: the effect on its first metric, against the control sets, with the test,
    and which stimuli selected the units, gave the reference and measured the effect."""
    if "skipped" in r:
        return f"{exp.title}: not run ({r['skipped']})."
    k = exp.shown[0]
    e, x, rs = r["effect"][k], r["excess_over_random"][k], r["random_sets"][k]
    c = r["controls"]
    caveat = "" if c.get("matched", True) else (f" Caution: the control {r['unit_kind']}s are "
                                                f"{abs(c['size_balance_sd']):.2f} SD off the targets in perturbation size.")
    sets = r.get("stimuli", {})
    design = ""
    if sets:
        design = (f" Units selected on {_set_text(sets['selection'])}; reference: {_set_text(sets['reference'])}; "
                  f"effects measured on {_set_text(sets['evaluation'])}.")
    return (f"{exp.title}: {r['mode']}-ablating {r['target_size']} {r['unit_kind']}s ({r['selection']}) changes {k} by "
            f"{_e(e)} ({n_text(e)}); {c['n_distinct']} matched control sets change it by {rs['mean']:+.3f} on "
            f"average (middle 95% of sets [{rs['lo']:+.3f}, {rs['hi']:+.3f}]), an excess of {_e(x)}; "
            f"{r['tests'][k]['display']}.{caveat}{design}")


def _mcnemar_text(mc: Optional[dict]) -> str:
    if not mc:
        return "—"
    how = f", clustered over {mc['n_cells']} cells" if "n_cells" in mc else ""
    return f"{mc['p']:.3g} ({mc['a_only']}↓ {mc['b_only']}↑{how})"


def _sets_table(sets: dict) -> tuple[str, list[str], list[list[str]]]:
    rows = []
    for role in ("selection", "reference", "evaluation"):
        d = sets.get(role, {})
        jit = sorted({p.get("position_jitter") for p in d.get("parts", []) if p.get("position_jitter") is not None})
        rows.append([role, d.get("purpose", ""), _set_text(d).split(" (")[0],
                     ", ".join(str(x) for x in d.get("seeds", []) if x is not None) or "—",
                     "/".join(f"{f:g}" for f in d.get("fonts", [])) or "—",
                     "/".join(f"±{j:g}" for j in jit) if jit else "—", str(d.get("n", "—"))])
    caption = "Stimulus sets: which set did what (fonts as fractions of the image side)."
    dis = sets.get("disjoint")
    if dis:
        caption += (" Identical images between sets (pixel hashes): "
                    + ", ".join(f"{k} {v}" for k, v in dis["shared_images"].items())
                    + f"; the evaluation's font size ({', '.join(map(str, dis['evaluation_font_px']))} px) is in no "
                    "other set.")
    return caption, ["set", "used for", "builders", "seeds", "fonts", "position jitter", "n"], rows


def render(exp: Experiment, r: dict) -> Rendered:
    """Tables of every metric, of the stimulus sets and of the control design, and the figures."""
    if "skipped" in r:
        return Rendered([f"Not run: {r['skipped']}."])
    rows = []
    for k in r["effect"]:
        b, a, e, x = r["baseline"][k], r["intervened"][k], r["effect"][k], r["excess_over_random"][k]
        rows.append([k, f"{b['value']:.3f}", f"{a['value']:.3f}", _e(e), f"{r['random_sets'][k]['mean']:+.3f}", _e(x),
                     r["tests"][k]["display"], _mcnemar_text(r["mcnemar"].get(k)), n_text(e)[2:]])
    c = r["controls"]
    design = [["unit kind", str(c["unit_kind"])], ["control sets (distinct / asked)", f"{c['n_distinct']} / {c['n_sets']}"],
              ["possible distinct sets", str(c["n_possible"])], ["enumerated exhaustively", "yes" if c["exhaustive"] else "no"],
              ["candidate units used", f"{c['coverage']:.1%}"], ["mean pairwise Jaccard", f"{c['mean_pairwise_jaccard']:.3f}"],
              ["size balance (control − target, in SDs)", f"{c['size_balance_sd']:+.3f}"],
              ["smallest p the design allows", f"{c['smallest_p']:.3g}"]]
    tables = [("Every metric before and after the intervention; effect = after − before with a 95% CI: for accuracies "
               "and their differences Newcombe's paired interval with the counts divided by the design effect of the "
               "stimulus cells (MOVER for a difference of two tasks), which cannot collapse to a point; for the margin "
               "a bootstrap over cells. Excess = effect − mean effect of the control sets, its interval from a "
               "bootstrap over cells and control sets (target minus one control set). McNemar: exact, or clustered "
               "by cell (Durkalski) where cells hold several items.",
               ["metric", "before", "after", "effect [95% CI]", "control mean", "excess [95% CI]", "rank test vs controls",
                "McNemar p (items lost↓ gained↑)", "n"], rows)]
    if r.get("stimuli"):
        tables.append(_sets_table(r["stimuli"]))
    tables.append(("Control design: sets matched to the targets on layer and perturbation size.", ["", ""], design))
    out = Rendered([exp.claim, f"Targets: {r['selection']} ({r['target_size']} {r['unit_kind']}s). "
                    + " ".join(c["notes"])], tables,
                   [Figure(f"ablation/ablation_{exp.name}.png", f"{exp.title}: effect of the targets (red line, with its 95% CI) "
                           f"against the effects of {c['n_distinct']} matched control sets (grey).")])
    if r["dose_response"]:
        out.figures.append(Figure(f"ablation/ablation_{exp.name}_dose.png",
                                  "Dose-response: top-k targets by selectivity (points) against matched control sets of "
                                  "the same size (band: 2.5–97.5% of the control sets)."))
    return out


declare(Experiment("stroop", "Text-selective units and the Stroop task", "census",
                   lambda store, o: census_targets(store, o.neurons or "text-selective", o.reduction), _stroop_eval,
                   "neuron", ("word_incongruent", "ink_incongruent", "stroop_effect", "interference", "facilitation",
                              "word_intrusion", "ink_incongruent_margin", "colour_patches"),
                   defaults=(("heads", 3), ("neurons", None), ("reduction", "cls")),
                   claim="Do the text-selective units carry the word's win over the ink? Ablating them should lower word reading "
                   "and word intrusion, raise ink naming on incongruent images and shrink interference beyond matched "
                   "control sets, and leave colour naming of plain patches intact (measured on held-out images)."))
declare(Experiment("colour", "Multimodal colour units and colour naming", "census",
                   lambda store, o: census_targets(store, o.neurons or "multimodal-colour", o.reduction), _stroop_eval,
                   "neuron", ("colour_patches", "ink_incongruent", "word_incongruent", "stroop_effect"),
                   "Do the multimodal colour units carry colour naming? Ablating them should lower colour naming of plain "
                   "patches beyond matched control sets."))
declare(Experiment("ior", "Large-object heads and image-based object retrieval", "attention",
                   lambda store, o: attention_targets(store, o.heads), _ior_eval, "head", ("large_wins",),
                   "Do the heads that attend most to the large object carry IOR's large-object preference? Ablating them "
                   "should lower it beyond matched control heads.", mode="zero", store="capture-scenes"))


# ------------------------------------------------------------------------------------------------ single units
def single_unit_effects(lm: LoadedModel, store_path: Path, top: int = 24, mode: str = "zero", reduction: str = "cls",
                        seed: int = 0, progress: bool = False) -> dict[str, dict[str, float]]:
    """Zero-ablate each of the `top` most selective census units alone; effect on every Stroop/colour metric
    (for the atlas cards: "site:unit" -> {metric: ablated - baseline, n: stimuli})."""
    from ..analyze.neurons import load_census
    from ..intervene import neuron_ablation
    from ..intervene.evals import stroop_eval
    from ..models.hooks import attached

    with ActivationStore(store_path) as st:
        census = load_census(st, reduction)
    sel = np.flatnonzero(census.cls != "none")
    order = sel[np.argsort(-np.maximum(census.arrays["clsi"][sel], census.arrays["tsi"][sel]))][:top]
    if len(order) == 0:
        return {}
    ev = stroop_eval(lm, seed=seed)
    base = ev.metrics(ev.correct())
    bindings = lm.adapter.bindings()
    out = {}
    from tqdm.auto import tqdm

    for i in tqdm(order, desc="single-unit ablations", unit="unit", disable=not progress):
        site, unit = str(census.site[i]), int(census.unit[i])
        m = ev.metrics(ev.correct(attached(bindings, neuron_ablation({site: [unit]}, mode))))
        out[f"{site}:{unit}"] = {"mode": mode, **{k: round(m[k] - base[k], 4) for k in base},
                                 "n_stimuli": int(len(ev.images))}
    return out


def _single(ctx: Context) -> dict:
    census = ctx.results["census"]
    red = census["reductions"][0]
    return {"reduction": red, "effects": single_unit_effects(ctx.lm, Path(ctx.results["capture-census"]["store"]),
                                                             top=min(24, ctx.controls), reduction=red,
                                                             progress=ctx.progress)}


register(Job("single-unit-ablations", "experiment", "Single-unit ablations", _single,
             lambda r: (f"Single-unit ablations: each of the {len(r['effects'])} most selective census units zero-ablated "
                        f"alone (shown on their atlas cards); the largest change of the Stroop effect by one unit is "
                        f"{max((abs(v['stroop_effect']) for v in r['effects'].values()), default=0):.3f}."),
             lambda r: Rendered(["Each unit alone, zero-ablated; changes per metric are on the unit's atlas card."],
                                [("Largest single-unit changes of the Stroop effect.", ["unit", "Stroop effect change", "word reading change"],
                                  [[k, f"{v['stroop_effect']:+.4f}", f"{v['word_incongruent']:+.4f}"] for k, v in
                                   sorted(r["effects"].items(), key=lambda kv: -abs(kv[1]["stroop_effect"]))[:10]])]),
             needs=("census",), options=("controls",),
             description="each selective unit ablated alone (as many as --controls allows, up to 24)"))


# ------------------------------------------------------------------------------------------------ command
def _arguments(sp: argparse.ArgumentParser) -> None:
    from ..models.load import DEFAULT_MODEL

    sp.add_argument("--experiment", choices=list(EXPERIMENTS), default="stroop",
                    help="; ".join(f"{e.name}: {e.title}" for e in EXPERIMENTS.values()))
    sp.add_argument("--model", default=DEFAULT_MODEL)
    sp.add_argument("--store", required=True, help="store holding the census (stroop, colour) or the attention mass (ior)")
    sp.add_argument("--neurons", choices=list(CENSUS_CLASSES), help="census class to ablate (default: the experiment's)")
    sp.add_argument("--mode", choices=["zero", "mean", "resample"], default=None, help="ablation (default: the experiment's)")
    sp.add_argument("--controls", type=int, default=200, help="matched random control sets (default 200)")
    sp.add_argument("--heads", type=int, default=3, help="ior: number of large-object heads")
    sp.add_argument("--reduction", choices=["cls", "mean"], default="cls",
                    help="which census picks the units: at the CLS token (default) or the patch mean")
    sp.add_argument("--seed", type=int, default=0)
    sp.add_argument("--out", default="ablation-results")
    sp.add_argument("--quiet", action="store_true")


def _run(args: argparse.Namespace) -> int:
    from ..models import load_model

    if args.controls <= 0 or args.heads <= 0:
        raise InterpError("--controls and --heads must be positive")
    exp = EXPERIMENTS[args.experiment]
    lm = load_model(args.model, device=args.device)
    payload = run_experiment(exp, lm, Path(args.store), args, args.controls, Path(args.out), args.seed, not args.quiet)
    print(summary(exp, payload))
    print(f"wrote {Path(args.out) / f'ablation_{exp.name}.json'}")
    return 0


command(Command("ablate", "ablate units (neurons, channels, heads) and compare with matched random control sets",
                _arguments, _run))
