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
                 derived: Optional[Mapping[str, tuple[str, str]]] = None, batch: int = 64) -> None:
        self.lm, self.images, self.tasks, self.batch = lm, images, dict(tasks), batch
        self.derived = dict(derived or {})  # name -> (task a, task b): accuracy(a) - accuracy(b)

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


def stroop_eval(lm: LoadedModel, seed: int = 0, patches: int = 220) -> ZeroShotEval:
    """The flagship's measurements: ink / word naming on the Stroop grid, colour naming of plain patches."""
    from probes.behaviour.colour import FIGURE_TEMPLATES
    from probes.behaviour.stroop import INK_TEMPLATES, WORD_TEMPLATES
    from probes.stimuli import colour_patches, stroop_grid
    from probes.stimuli.colours import TERMS

    size = lm.image_size[0]
    sg = stroop_grid(seed=seed, size=size, controls=False)
    cp = colour_patches(n=patches, seed=seed + 1, size=size)
    images = lm.images_to_tensor(sg.images(range(len(sg))) + cp.images(range(len(cp))))
    t_idx = {t: i for i, t in enumerate(TERMS)}
    ink = np.array([t_idx[x] for x in sg.column("ink")])
    word = np.array([t_idx[x] for x in sg.column("word")])
    cond = sg.column("condition")
    inc, con = np.flatnonzero(cond == "incongruent"), np.flatnonzero(cond == "congruent")
    ink_c = class_embeddings(lm, TERMS, INK_TEMPLATES)
    word_c = class_embeddings(lm, TERMS, WORD_TEMPLATES)
    col_c = class_embeddings(lm, TERMS, FIGURE_TEMPLATES)
    prow = np.arange(len(sg), len(sg) + len(cp))
    # a cell is one word x ink pair: its font sizes and backgrounds are near-copies and resample together
    cell = np.array([f"{w}|{k}" for w, k in zip(sg.column("word"), sg.column("ink"))])
    pcol = np.array([t_idx[x] for x in cp.column("colour")])
    tasks = {"ink_incongruent": Task(inc, ink[inc], ink_c, cell[inc], rival=word[inc]),
             "ink_congruent": Task(con, ink[con], ink_c, cell[con]),
             "word_incongruent": Task(inc, word[inc], word_c, cell[inc]),
             "colour_patches": Task(prow, pcol, col_c, np.array(cp.column("colour")))}
    return ZeroShotEval(lm, images, tasks, {"stroop_effect": ("ink_congruent", "ink_incongruent")})


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
