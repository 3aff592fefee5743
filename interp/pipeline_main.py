"""The main job (`clip-interp run`): the whole chain on one model, each stage resumable, into a report folder.

probe stimuli -> behavioural probes -> census capture -> neuron census -> multi-object capture -> CLS-to-object
attention mass -> Stroop ablation with matched random controls -> neuron atlas -> index.html.
A stage whose result file exists is skipped on a rerun; captures resume from their last committed batch.
"""
from __future__ import annotations

import html
import json
import time
from pathlib import Path
from typing import Callable, Optional

PROBES = ("colour", "stroop", "tor", "ior", "i2tor", "matching", "shape-bias", "context")


def plan(lm) -> dict:
    """Which sites and reductions this architecture offers the chain: MLP neurons of ViT blocks (at CLS where a CLS
    token exists, and at the patch mean), or channels of ResNet bottlenecks; CLS-attention patterns where there are
    any (ViT blocks, the ResNet attention pool; none in SigLIP towers)."""
    sites = lm.sites()
    mlp = [s for s in sites if s.startswith("visual.blocks.") and s.endswith(".mlp.post")]
    glob = "visual.blocks.*.mlp.post" if mlp else "visual.layer*.*.out"
    first = sites[mlp[0]] if mlp else next(i for s, i in sites.items() if s.startswith("visual.layer"))
    reductions = [r for r in ("cls", "mean") if r in first.reductions]
    patterns = [s for s, i in sites.items() if s.startswith("visual") and i.kind == "pattern" and "object_mass" in i.reductions]
    return {"neurons": glob, "reductions": reductions, "patterns": patterns,
            "census": [f"{glob}:{','.join(reductions)}", "visual.proj"],
            "scenes": ([f"{p}:cls_row,object_mass" for p in patterns] + ["visual.proj"])}


class Stages:
    """Runs named stages once: a stage's JSON result in `out/` marks it done."""

    def __init__(self, out: Path, progress: bool) -> None:
        self.out, self.progress, self.log = out, progress, []

    def run(self, name: str, fn: Callable[[], dict]) -> dict:
        """Run `fn` unless `out/stages/<name>.json` exists; return its JSON result."""
        marker = self.out / "stages" / f"{name}.json"
        if marker.exists():
            self.log.append(f"{name}: done before (skipped)")
            return json.loads(marker.read_text())
        t = time.time()
        if self.progress:
            print(f"[{name}] ...", flush=True)
        result = fn()
        marker.parent.mkdir(parents=True, exist_ok=True)
        tmp = marker.with_suffix(".tmp")
        tmp.write_text(json.dumps(result, default=str))
        tmp.replace(marker)
        self.log.append(f"{name}: {time.time() - t:.1f}s")
        return result


def run_main(model: str, out: Path, n: Optional[int] = None, device: str = "cpu", progress: bool = True,
             controls: int = 100) -> str:
    """Run the chain and return a short text summary; everything lands in `out/`."""
    from probes.stimuli import census_set, multi_object_scenes

    from .behaviour import run_probe
    from .capture import CaptureRequest, capture
    from .experiments import ior_head_experiment, neuron_ablation_experiment, single_unit_effects
    from .models import load_model
    from .report import attention_report, census_report

    out.mkdir(parents=True, exist_ok=True)
    lm = load_model(model, device=device)
    size = lm.image_size[0]
    sites = plan(lm)
    st = Stages(out, progress)
    probes = {}
    for p in PROBES:
        def do(p=p):
            res = run_probe(p, lm, n=n)
            res.save(out / "probes")
            return res.to_json()
        probes[p] = st.run(f"probe-{p}", do)

    census_store = out / "census.h5"

    def do_census_capture():
        stim = census_set(size=size, seed=0, n=n)
        req = CaptureRequest.parse(sites["census"], lm.sites(), has_masks=stim.max_objects > 0)
        capture(lm, stim, req, census_store, resume=census_store.exists(), progress=progress)
        return {"store": str(census_store)}

    st.run("capture-census", do_census_capture)
    census = st.run("census", lambda: {"text": "\n\n".join(
        census_report(census_store, r, sites["neurons"], out=out / "census", progress=progress) for r in sites["reductions"]),
        "reductions": sites["reductions"]})
    scenes_store = out / "scenes.h5"

    def do_scene_capture():
        stim = multi_object_scenes(n=n or 200, seed=3, size=size, order="random", n_objects=(2, 3, 4))
        req = CaptureRequest.parse(sites["scenes"], lm.sites(), has_masks=True)
        capture(lm, stim, req, scenes_store, resume=scenes_store.exists(), progress=progress)
        return {"store": str(scenes_store)}

    st.run("capture-scenes", do_scene_capture)
    attention = st.run("attention", lambda: {"text": attention_report(scenes_store, out / "attention")} if sites["patterns"]
                       else {"text": f"not run: {lm.spec} has no CLS attention pattern (no CLS token)"})
    # text is read where the letters are: the patch-mean census picks the units for the Stroop ablation
    first_red = sites["reductions"][0]
    # --controls sets the budget of the causal stages: random sets, dose-response (from 20 sets on), single units
    dose = (1, 3, 10, 30, 100) if controls >= 20 else ()
    ablation = st.run("ablation-stroop", lambda: _maybe(lambda: neuron_ablation_experiment(
        lm, census_store, "text-selective", "mean", controls, dose=dose, out=out / "ablation", progress=progress,
        reduction="mean")[1]))
    ablation_c = st.run("ablation-colour", lambda: _maybe(lambda: neuron_ablation_experiment(
        lm, census_store, "multimodal-colour", "mean", controls, dose=dose, out=out / "ablation", progress=progress,
        reduction=first_red)[1]))
    ablation_h = st.run("ablation-ior-heads", lambda: _maybe(lambda: ior_head_experiment(
        lm, scenes_store, 3, controls, out=out / "ablation")[1]))

    single = st.run("single-neuron-ablations", lambda: single_unit_effects(lm, census_store, top=min(24, controls),
                                                                                   reduction=first_red))

    def do_atlas():
        from .atlas import build_atlas

        return {"index": str(build_atlas(lm, census_store, out / "atlas", reduction=first_red, ablations=single,
                                         attribution_limit=min(48, 2 * controls), progress=progress))}

    atlas = st.run("atlas", do_atlas)
    index = write_index(out, lm.spec, probes, census, attention, ablation, ablation_c, ablation_h, atlas)
    lines = [f"model {lm.spec}: report in {index}"] + [f"  {l}" for l in st.log]
    s = probes["stroop"]["metrics"]["stroop_effect"]
    lines.append(f"  Stroop effect {s['value']:.3f} [{s['lo']:.3f}, {s['hi']:.3f}] (n={s['n']})")
    if "effect" in ablation:
        lines.append(f"  ablating {ablation['target_size']} text-selective neurons (vs {controls} matched random sets):")
        for k in ("word_incongruent", "ink_incongruent", "stroop_effect", "colour_patches"):
            e, r = ablation["effect"][k], ablation["random_sets"][k]
            lines.append(f"    {k:<17} {e['value']:+.3f} [{e['lo']:+.3f}, {e['hi']:+.3f}]  random {r['mean']:+.3f} "
                         f"[{r['lo']:+.3f}, {r['hi']:+.3f}]  p={ablation['p_value'][k]:.3g}")
    return "\n".join(lines)


def _maybe(fn: Callable[[], dict]) -> dict:
    """Run an optional experiment; record why it could not run instead of failing the job."""
    from .errors import InterpError

    try:
        return fn()
    except InterpError as exc:
        return {"skipped": str(exc)}


def _est(d: dict) -> str:
    return f"{d['value']:.3f} [{d['lo']:.3f}, {d['hi']:.3f}] (n={d['n']})"


def write_index(out: Path, spec: str, probes: dict, census: dict, attention: dict, ablation: dict,
                ablation_c: dict, ablation_h: dict, atlas: dict) -> Path:
    """index.html: findings in words, every number with its CI and n, and the figures."""
    e = html.escape
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>clip-interp report: {e(spec)}</title>",
             "<style>body{font-family:sans-serif;max-width:1100px;margin:2em auto;line-height:1.4}"
             "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:3px 8px}img{max-width:100%}"
             "pre{background:#f6f6f6;padding:8px}</style></head><body>",
             f"<h1>clip-interp report — {e(spec)}</h1>"]
    c, s = probes["colour"]["metrics"], probes["stroop"]["metrics"]
    parts.append("<h2>Findings</h2><ul>")
    parts.append(f"<li>Colour naming: chromatic {_est(c['accuracy_chromatic'])}, achromatic {_est(c['accuracy_achromatic'])}; "
                 f"achromatic deficit {_est(c['achromatic_deficit'])}.</li>")
    parts.append(f"<li>Stroop: ink accuracy congruent {_est(s['ink_accuracy_congruent'])} vs incongruent "
                 f"{_est(s['ink_accuracy_incongruent'])}; Stroop effect {_est(s['stroop_effect'])}; word accuracy on "
                 f"incongruent images {_est(s['word_accuracy_incongruent'])}.</li>")
    t = probes["tor"]["metrics"]
    parts.append(f"<li>TOR: the first-mentioned object wins {_est(t['first_wins'])}, the last {_est(t['last_wins'])}.</li>")
    parts.append(f"<li>IOR: the large object wins {_est(probes['ior']['metrics']['large_wins'])}; matching with the large object "
                 f"first {_est(probes['matching']['metrics']['accuracy_large_first'])} vs last "
                 f"{_est(probes['matching']['metrics']['accuracy_large_last'])} (McNemar p={probes['matching']['tables']['mcnemar']['p']:.3g}).</li>")
    parts.append(f"<li>Shape bias {_est(probes['shape-bias']['metrics']['shape_bias'])}.</li>")
    if "effect" in ablation:
        a = ablation["effect"]
        rs, pv = ablation["random_sets"], ablation["p_value"]
        parts.append(f"<li>Ablating the {ablation['target_size']} text-selective neurons ({e(ablation['mode'])} ablation) "
                     f"changes word reading on incongruent images by {_est(a['word_incongruent'])} (random sets "
                     f"{rs['word_incongruent']['mean']:+.3f} [{rs['word_incongruent']['lo']:+.3f}, {rs['word_incongruent']['hi']:+.3f}], "
                     f"p={pv['word_incongruent']:.3g}), incongruent ink accuracy by {_est(a['ink_incongruent'])} "
                     f"(p={pv['ink_incongruent']:.3g}), the Stroop effect by {_est(a['stroop_effect'])} (p={pv['stroop_effect']:.3g}), "
                     f"and colour naming of plain patches by {_est(a['colour_patches'])}.</li>")
    parts.append("</ul>")
    parts.append("<h2>Behavioural probes</h2>")
    for p, r in probes.items():
        parts.append(f"<h3>{e(p)}</h3><table><tr><th>metric</th><th>value [95% CI] (n)</th></tr>")
        for k, v in r["metrics"].items():
            parts.append(f"<tr><td>{e(k)}</td><td>{_est(v)}</td></tr>")
        parts.append(f"</table><img src='probes/{e(p)}.png' alt='{e(p)}'>")
    parts.append(f"<h2>Neuron census</h2><pre>{e(census['text'])}</pre>" + "".join(
        f"<img src='census/census_{r}.png' alt='census at {r}'>" for r in census.get("reductions", ["cls"])))
    parts.append(f"<h2>CLS-to-object attention</h2><pre>{e(attention['text'])}</pre>")
    if (out / "attention" / "attention.png").exists():
        parts.append("<img src='attention/attention.png' alt='attention'>"
                     "<img src='attention/attention_overlays.png' alt='CLS attention overlays'>")
    parts.append("<h2>Causal experiments</h2>")
    for name, a, img in (("text-selective neurons (Stroop)", ablation, "ablation_text-selective_mean.png"),
                         ("multimodal colour neurons", ablation_c, "ablation_multimodal-colour_mean.png"),
                         ("large-object heads (IOR)", ablation_h, "ablation_ior_heads.png")):
        if "skipped" in a:
            parts.append(f"<h3>{e(name)}</h3><p>not run: {e(a['skipped'])}</p>")
        else:
            parts.append(f"<h3>{e(name)}</h3><pre>{e(json.dumps({k: a[k] for k in ('effect', 'random_sets', 'p_value') if k in a}, indent=1))}</pre>"
                         f"<img src='ablation/{img}' alt='{e(name)}'>")
    parts.append(f"<h2>Neuron atlas</h2><p><a href='atlas/index.html'>open the atlas</a></p></body></html>")
    path = out / "index.html"
    path.write_text("\n".join(parts))
    return path
