"""What causal experiments measure: zero-shot decisions of the image tower on fixed stimuli, per item.

An evaluation turns "run the model under this intervention" into per-item outcomes per task (correct or not, or a
continuous margin) with the stimulus cell of every item, which is all the control engine needs.
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Mapping, Optional

import numpy as np
import torch

from probes.behaviour.base import class_embeddings
from probes.stimuli.base import StimulusSet

from ..errors import InterpError
from ..models.loaded import LoadedModel
from .controls import Evaluation, Metric


@dataclass
class Task:
    """One zero-shot decision task: rows of the evaluation images, their true class, the class embeddings, and
    (optionally) a rival class per row: then the task also yields the margin cos(true) - cos(rival) per item."""

    rows: np.ndarray
    truth: np.ndarray
    classes: np.ndarray  # [C, d]
    cells: Optional[np.ndarray] = None  # stimulus cell per row (jittered copies share one)
    rival: Optional[np.ndarray] = None


class ZeroShotEval:
    """Zero-shot decisions of the image tower on fixed images against fixed text class embeddings.

    Interventions touch only the image tower, so text embeddings are computed once.
    """

    def __init__(self, lm: LoadedModel, images: torch.Tensor, tasks: Mapping[str, Task],
                 derived: Optional[Mapping[str, tuple[str, str]]] = None, batch: int = 256,
                 reference: Optional[StimulusSet] = None, stimuli: Optional[StimulusSet] = None,
                 sets: Optional[dict] = None) -> None:
        self.lm, self.images, self.tasks, self.batch = lm, images, dict(tasks), batch
        self.derived = dict(derived or {})  # name -> (task a, task b): accuracy(a) - accuracy(b)
        # held-out design: the stimuli a mean ablation's reference comes from (None: the evaluation images), the
        # evaluation stimuli themselves, and a description of each set for the result
        self.reference, self.stimuli, self.sets = reference, stimuli, dict(sets or {})

    @torch.no_grad()
    def embeddings(self, context: Optional[contextlib.AbstractContextManager] = None) -> np.ndarray:
        """Normalised image embeddings [n, d] of every evaluation image, under `context` (an intervention)."""
        embs = []
        with context if context is not None else contextlib.nullcontext():
            for i in range(0, len(self.images), self.batch):
                e = self.lm.model.encode_image(self.images[i : i + self.batch])
                embs.append(torch.nn.functional.normalize(e.float(), dim=-1).cpu().numpy())
        return np.concatenate(embs)

    def correct(self, context: Optional[contextlib.AbstractContextManager] = None) -> dict[str, np.ndarray]:
        """Per-task correctness arrays under `context`."""
        emb = self.embeddings(context)
        return {k: (emb[t.rows] @ t.classes.T).argmax(1) == t.truth for k, t in self.tasks.items()}

    def outcomes(self, context: Optional[contextlib.AbstractContextManager] = None) -> dict[str, np.ndarray]:
        """Per-item outcomes: correctness per task, and `<task>_margin` for tasks with a rival class."""
        emb = self.embeddings(context)
        out: dict[str, np.ndarray] = {}
        for k, t in self.tasks.items():
            sims = emb[t.rows] @ t.classes.T
            out[k] = (sims.argmax(1) == t.truth).astype(np.float64)
            if t.rival is not None:
                r = np.arange(len(t.rows))
                out[f"{k}_margin"] = sims[r, t.truth] - sims[r, t.rival]
        return out

    def metrics(self, correct: Mapping[str, np.ndarray]) -> dict[str, float]:
        """Accuracy per task and each derived difference."""
        out = {k: float(np.mean(correct[k])) for k in self.tasks}
        out.update({k: out[a] - out[b] for k, (a, b) in self.derived.items()})
        return out

    def evaluation(self, description: str = "") -> Evaluation:
        """This evaluation in the control engine's terms: accuracies, derived differences, margins, cells."""
        metrics = [Metric(k, k) for k in self.tasks]
        metrics += [Metric(k, a, b) for k, (a, b) in self.derived.items()]
        metrics += [Metric(f"{k}_margin", f"{k}_margin", binary=False) for k, t in self.tasks.items() if t.rival is not None]
        clusters = {}
        for k, t in self.tasks.items():
            cells = t.cells if t.cells is not None else np.arange(len(t.rows)).astype(str)
            clusters[k] = cells
            if t.rival is not None:
                clusters[f"{k}_margin"] = cells
        return Evaluation(self.outcomes, metrics, clusters, description)


# The held-out design of the Stroop experiments. Three disjoint stimulus sets, each with one job:
# - selection: the census (`census_set`, seed s: patches and the matched text contrast — words, anagrams, strokes —
#   jittered, at fonts 0.13 / 0.16 / 0.22 / 0.26 of the side) picks the units; it is read from the census store's recipe;
# - reference: the mean-ablation replacement and the control engine's perturbation sizes come from a jittered Stroop
#   grid at the census fonts and fresh colour patches (seed s + 2);
# - evaluation: the effect is measured on jittered copies at a font size neither of the others uses (seeds s + 3 ..
#   s + 6), so a unit cannot look causal for having been selected, or replaced, on the very images it is tested on.
HELD_OUT_FONT = 0.19
JITTER = 0.06
MIN_CONGRUENT = 200
REFERENCE_SEED = 2
EVALUATION_SEED = 3


def _stroop_part(condition: str, copies: int, seed: int, size: int) -> StimulusSet:
    """`copies` jittered copies of every cell of one condition at the held-out font, on the background the grid
    gives that ink's non-words (its first admissible one), so conditions differ in the word, not the background."""
    from probes.stimuli import COLOUR_TERMS, stroop_grid
    from probes.stimuli.stroop import backgrounds_for

    args = dict(seed=seed, size=size, font_sizes=(HELD_OUT_FONT,), conditions=(condition,), jitter=JITTER)
    per_cycle = len(stroop_grid(**args))
    grid = stroop_grid(n=copies * per_cycle, **args)
    ink, bg = grid.column("ink"), grid.column("background")
    floor = grid.recipe["args"]["contrast_floor"]
    keep = [i for i in range(len(grid)) if bg[i] == backgrounds_for(COLOUR_TERMS[ink[i]], floor)[0]]
    out = grid.subset(keep)
    out.params = {**out.params, "backgrounds": f"the ink's first admissible one ({len(keep)} of {len(grid)} items)"}
    return out


def stroop_reference_parts(size: int, seed: int = 0) -> list:
    """The reference set's parts: a jittered Stroop grid at the census fonts and fresh colour patches."""
    from probes.stimuli import colour_patches, stroop_grid

    s = seed + REFERENCE_SEED
    return [stroop_grid(seed=s, size=size, conditions=("congruent", "incongruent", "nonword"), jitter=JITTER),
            colour_patches(n=220, seed=s, size=size)]


def stroop_evaluation_parts(size: int, seed: int = 0, patches: int = 220) -> list:
    """The evaluation set's parts: held-out font, jitter; >= MIN_CONGRUENT congruent items, 3 copies of every
    incongruent cell, 2 of every non-word cell; colour patches of their own seed."""
    import math

    from probes.stimuli import colour_patches

    s = seed + EVALUATION_SEED
    congruent_cells = len(_stroop_part("congruent", 1, s, size))
    parts = [_stroop_part("congruent", math.ceil(MIN_CONGRUENT / congruent_cells), s, size),
             _stroop_part("incongruent", 3, s + 1, size), _stroop_part("nonword", 2, s + 2, size)]
    return parts + [colour_patches(n=patches, seed=s + 3, size=size)]


def describe_set(role: str, parts: list, purpose: str) -> dict:
    """What a stimulus set is, for the experiment's JSON and report: builders, seeds, fonts, jitter, n per part."""
    rows = []
    for p in parts:
        recipe = p.recipe or {}
        subset = recipe.get("builder") == "subset"
        r = recipe.get("of") if subset else recipe
        args = dict((r or {}).get("args", {}))
        size = args.get("size") or p.image_size
        px = sorted({int(v) for v in np.asarray(p.columns.get("font_px", []), int).tolist() if v > 0})
        builder = (r or {}).get("builder", p.name)
        row = {"builder": builder, "seed": args.get("seed"), "n": len(p)}
        if "condition" in p.columns:  # Stroop items: fonts, position jitter, conditions, backgrounds
            row.update({"fonts": sorted({round(v / size, 2) for v in px}), "font_px": px,
                        "position_jitter": args.get("jitter", 0.0),
                        "conditions": sorted(set(np.asarray(p.columns["condition"]).tolist())),
                        "backgrounds": p.params.get("backgrounds", "all admissible")})
        rows.append(row)
    return {"role": role, "purpose": purpose, "n": int(sum(len(p) for p in parts)),
            "seeds": sorted({r["seed"] for r in rows if r["seed"] is not None}),
            "fonts": sorted({f for r in rows for f in r.get("fonts", [])}),
            "font_px": sorted({f for r in rows for f in r.get("font_px", [])}),
            "parts": rows}


def image_hashes(stimuli: StimulusSet) -> list[str]:
    """A pixel hash per stimulus (identical images, identical hashes)."""
    import hashlib

    return [hashlib.sha1(np.asarray(stimuli.image(i)).tobytes()).hexdigest() for i in range(len(stimuli))]


def check_held_out(sets: Mapping[str, Optional[StimulusSet]]) -> dict:
    """Pixel-compare the selection, reference and evaluation sets, and the evaluation's font sizes with the
    others'; raise InterpError when two sets share an image or the evaluation shares a font size with a set that
    picked or replaced the units (the design would then not be held out). Returns the counts for the record."""
    hashes = {k: set(image_hashes(v)) for k, v in sets.items() if v is not None}
    px = {k: {int(x) for x in np.asarray(v.columns.get("font_px", []), int).tolist() if x > 0}
          for k, v in sets.items() if v is not None}
    out: dict = {"shared_images": {}, "checked": sorted(hashes)}
    names = sorted(hashes)
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            out["shared_images"][f"{a} & {b}"] = len(hashes[a] & hashes[b])
    ev = px.get("evaluation", set())
    out["evaluation_font_px"] = sorted(ev)
    out["font_px_shared_with_evaluation"] = {k: sorted(ev & v) for k, v in px.items() if k != "evaluation"}
    bad = [k for k, n in out["shared_images"].items() if n]
    bad += [f"font px {v} of {k}" for k, v in out["font_px_shared_with_evaluation"].items() if v]
    if bad:
        raise InterpError("the stimulus sets are not disjoint: " + "; ".join(
            f"{k}: {out['shared_images'][k]} identical images" if k in out["shared_images"] else k for k in bad))
    return out


def stroop_eval(lm: LoadedModel, seed: int = 0, patches: int = 220) -> ZeroShotEval:
    """The Stroop experiments' measurements on the held-out evaluation set: ink / word naming and word intrusion
    per condition (tasks from `probes.behaviour.stroop.STROOP_TASKS`), the Stroop effect, interference and
    facilitation (`STROOP_DIFFERENCES`), the ink-vs-word margin, and colour naming of plain patches. The mean-
    ablation reference is a separate set (`reference`); both are described in `sets`."""
    from probes.behaviour.colour import FIGURE_TEMPLATES
    from probes.behaviour.stroop import PROMPTS, STROOP_DIFFERENCES, STROOP_TASKS, stroop_items
    from probes.stimuli.base import concat
    from probes.stimuli.colours import TERMS

    size = lm.image_size[0]
    parts = stroop_evaluation_parts(size, seed, patches)
    words, cp = concat("stroop_evaluation", parts[:-1]), parts[-1]
    ev_set = concat("evaluation", parts)
    images = lm.images_to_tensor(ev_set.images(range(len(ev_set))))
    causal = {k: t for k, t in STROOP_TASKS.items() if t.causal}
    classes = {k: class_embeddings(lm, TERMS, tpl) for k, tpl in PROMPTS.items()}
    tasks = {name: Task(it.rows, it.truth, classes[causal[name].prompt], it.cells, rival=it.rival)
             for name, it in stroop_items(words.columns, TERMS, causal).items()}
    t_idx = {t: i for i, t in enumerate(TERMS)}
    prow = np.arange(len(words), len(words) + len(cp))
    # a patch's cell is its colour term (patches are drawn independently; their colour is the design's unit)
    tasks["colour_patches"] = Task(prow, np.array([t_idx[x] for x in cp.column("colour")]),
                                   class_embeddings(lm, TERMS, FIGURE_TEMPLATES), np.array(cp.column("colour")))
    ref_parts = stroop_reference_parts(size, seed)
    sets = {"reference": describe_set("reference", ref_parts, "mean-ablation replacement and perturbation sizes of "
                                      "the control engine"),
            "evaluation": describe_set("evaluation", parts, "every effect, control set and test")}
    return ZeroShotEval(lm, images, tasks, dict(STROOP_DIFFERENCES), reference=concat("reference", ref_parts),
                        stimuli=ev_set, sets=sets)


def ior_eval(lm: LoadedModel, n: int = 200, seed: int = 11) -> ZeroShotEval:
    """IOR's decision per scene: is the large object the one whose single-object reference image is closest?

    The references go through the image tower too, so an intervention changes them as it changes the scenes (the
    first wave did the same); the scene and reference images are encoded in one pass under the intervention."""
    from probes.behaviour.objects import scene_object_classes
    from probes.stimuli import SHAPE_CLASSES, multi_object_scenes, single_objects

    size = lm.image_size[0]
    sc = multi_object_scenes(n=n, seed=seed, size=size, order="random", n_objects=(2, 3, 4))
    refs = single_objects(SHAPE_CLASSES, size=size, seed=seed + 1)
    images = lm.images_to_tensor(sc.images(range(len(sc))) + refs.images(range(len(refs))))
    per_scene = scene_object_classes(sc, SHAPE_CLASSES)  # [n, max_objects] class index, -1 padding
    return _SceneEval(lm, images, len(sc), per_scene, np.asarray(sc.column("large_pos"), int))


class _SceneEval(ZeroShotEval):
    """IOR as a zero-shot task whose candidate classes are each scene's own objects."""

    def __init__(self, lm: LoadedModel, images: torch.Tensor, n_scenes: int, objects: np.ndarray, large_pos: np.ndarray) -> None:
        super().__init__(lm, images, {})
        self.n_scenes, self.objects, self.large_pos = n_scenes, objects, large_pos

    def outcomes(self, context: Optional[contextlib.AbstractContextManager] = None) -> dict[str, np.ndarray]:
        """large_wins per scene (1 when the large object's reference is the closest of the scene's objects)."""
        from probes.behaviour.objects import winning_object

        emb = self.embeddings(context)
        scenes, refs = emb[: self.n_scenes], emb[self.n_scenes :]
        return {"large_wins": (winning_object(scenes @ refs.T, self.objects) == self.large_pos).astype(np.float64)}

    def correct(self, context: Optional[contextlib.AbstractContextManager] = None) -> dict[str, np.ndarray]:
        """large_wins as booleans."""
        return {k: v.astype(bool) for k, v in self.outcomes(context).items()}

    def metrics(self, correct: Mapping[str, np.ndarray]) -> dict[str, float]:
        """Share of scenes the large object wins."""
        return {"large_wins": float(np.mean(correct["large_wins"]))}

    def evaluation(self, description: str = "") -> Evaluation:
        """IOR's large-object preference, each scene its own cell."""
        return Evaluation(self.outcomes, [Metric("large_wins", "large_wins")],
                          {"large_wins": np.arange(len(self.large_pos)).astype(str)}, description)
