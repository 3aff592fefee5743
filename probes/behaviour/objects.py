"""Multi-object probes of seed 001: TOR, IOR, I2TOR and image-text matching.

TOR embeds "a A and a B and a C" and asks which object's single-object text is most similar: per caption
position, how often it wins. IOR / I2TOR ask the same of a scene image against single-object images / texts,
where the factor is object size (large vs small). Both the unconditional metric and seed 001's conditional one
(keep samples whose top-k retrieved set is the true set) are reported, each with its denominator.
"""
from __future__ import annotations

from typing import Optional, Sequence

import numpy as np

from ..errors import ProbeError
from ..stats import accuracy, mcnemar, wilson
from ..stimuli import multi_object_scenes, single_objects
from ..stimuli.base import StimulusSet
from ..stimuli.scenes import SEP, caption_for
from ..stimuli.shapes import SHAPE_CLASSES
from .registry import ProbeSpec, est, register_probe
from .base import error_bars, ImageTextEncoder, ProbeResult, TextEncoder, class_embeddings, encode_images, normed

SINGLE_TEMPLATE = "a {}"
# COCO's object classes (for text-only encoders, as in seed 001's Table 5)
COCO_NAMES = ("person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat", "traffic light",
              "fire hydrant", "stop sign", "parking meter", "bench", "bird", "cat", "dog", "horse", "sheep", "cow",
              "elephant", "bear", "zebra", "giraffe", "backpack", "umbrella", "handbag", "tie", "suitcase", "frisbee",
              "skis", "snowboard", "sports ball", "kite", "baseball bat", "baseball glove", "skateboard", "surfboard",
              "tennis racket", "bottle", "wine glass", "cup", "fork", "knife", "spoon", "bowl", "banana", "apple",
              "sandwich", "orange", "broccoli", "carrot", "hot dog", "pizza", "donut", "cake", "chair", "couch",
              "potted plant", "bed", "dining table", "toilet", "tv", "laptop", "mouse", "remote", "keyboard",
              "cell phone", "microwave", "oven", "toaster", "sink", "refrigerator", "book", "clock", "vase",
              "scissors", "teddy bear", "hair drier", "toothbrush")


def object_class_matrix(objects: Sequence[Sequence[str]], classes: Sequence[str]) -> np.ndarray:
    """objects[i] as class indices, one row per item, padded with -1: [n, max objects]."""
    idx = {c: i for i, c in enumerate(classes)}
    k = max((len(o) for o in objects), default=0)
    out = np.full((len(objects), k), -1, np.int64)
    for i, ob in enumerate(objects):
        out[i, : len(ob)] = [idx[o] for o in ob]
    return out


def scene_object_classes(scenes: StimulusSet, classes: Sequence[str]) -> np.ndarray:
    """Class indices of each scene's objects in caption order, padded with -1: [n, max objects]."""
    return object_class_matrix([o.split(SEP) for o in scenes.column("objects")], classes)


def winning_object(sims: np.ndarray, objects: np.ndarray) -> np.ndarray:
    """The rule every retrieval probe uses: position (in `objects[i]`) of the object whose class is most similar,
    among that item's own objects only. sims[n, C] similarities to every class, objects[n, K] class ids (-1 pad)."""
    gathered = np.take_along_axis(sims, np.maximum(objects, 0), axis=1)
    gathered = np.where(objects >= 0, gathered, -np.inf)
    return gathered.argmax(1)


def _position_metrics(win_pos: np.ndarray, kept: np.ndarray, n_obj: np.ndarray, prefix: str) -> tuple[dict, dict]:
    metrics, table = {}, {}
    for k in sorted(set(n_obj.tolist())):
        sel = n_obj == k
        for label, mask in (("", sel), ("_conditional", sel & kept)):
            for pos in range(k):
                name = f"{prefix}{k}obj_pos{pos + 1}{label}"
                metrics[name] = wilson(int(np.sum(win_pos[mask] == pos)), int(mask.sum()))
            table[f"{k}obj{label}_n"] = int(mask.sum())
        table[f"{k}obj_chance"] = 1 / k
    return metrics, table


def tor(encoder: TextEncoder, n: int = 400, names: Sequence[str] = SHAPE_CLASSES, n_objects: Sequence[int] = (2, 3, 4),
        template: str = SINGLE_TEMPLATE, seed: int = 0) -> ProbeResult:
    """Text-based object retrieval on captions of `names` in random order (order never tied to class identity)."""
    if n <= 0:
        raise ProbeError(f"n must be positive, got {n}")
    if max(n_objects) > len(names):
        raise ProbeError(f"{max(n_objects)} objects need at least that many names")
    rng = np.random.default_rng(seed)
    objs = [[str(x) for x in rng.choice(names, int(n_objects[i % len(n_objects)]), replace=False)] for i in range(n)]
    caps = [caption_for(o) for o in objs]
    cap_emb = normed(encoder.encode_text(caps))
    single = class_embeddings(encoder, list(names), [template])
    idx = {c: i for i, c in enumerate(names)}
    sims = cap_emb @ single.T
    win = winning_object(sims, object_class_matrix(objs, names))
    kept = np.array([set(np.argsort(-sims[i])[: len(ob)].tolist()) == {idx[o] for o in ob} for i, ob in enumerate(objs)])
    n_obj = np.array([len(o) for o in objs])
    metrics, table = _position_metrics(win, kept, n_obj, "tor_")
    metrics["first_wins"] = accuracy(win == 0)
    metrics["last_wins"] = accuracy(win == n_obj - 1)

    def plot(fig):
        ax = fig.add_subplot(1, 1, 1)
        for j, k in enumerate(sorted(set(n_obj.tolist()))):
            es = [metrics[f"tor_{k}obj_pos{p + 1}"] for p in range(k)]
            x = np.arange(k) + 0.25 * j
            ax.errorbar(x, [e.value for e in es], yerr=error_bars(es),
                        marker="o", capsize=3, label=f"{k} objects (n={es[0].n}, chance {1 / k:.2f})")
        ax.set_xlabel("caption position")
        ax.set_ylabel("share ranked first")
        ax.set_xticks(range(max(n_obj)), [str(p + 1) for p in range(max(n_obj))])
        ax.set_title("TOR: which mentioned object does the caption embedding match best?")
        ax.legend(fontsize=8)

    return ProbeResult("tor", metrics, table, {"winner_position": win, "kept": kept, "n_objects": n_obj},
                       {"n": n, "names": list(names), "template": template}, plot)


def _scene_retrieval(scene_emb: np.ndarray, ref: np.ndarray, scenes: StimulusSet, classes: Sequence[str], probe: str) -> ProbeResult:
    idx = {c: i for i, c in enumerate(classes)}
    objs = [o.split(SEP) for o in scenes.column("objects")]
    large_pos = scenes.column("large_pos")
    sims = scene_emb @ ref.T
    win = winning_object(sims, scene_object_classes(scenes, classes))
    kept = np.array([set(np.argsort(-sims[i])[: len(ob)].tolist()) == {idx[o] for o in ob} for i, ob in enumerate(objs)])
    large_wins = win == large_pos
    n_obj = np.array([len(o) for o in objs])
    metrics = {"large_wins": accuracy(large_wins), "large_wins_conditional": accuracy(large_wins[kept]),
               "top_k_set_correct": accuracy(kept)}
    table = {}
    for k in sorted(set(n_obj.tolist())):
        m = n_obj == k
        metrics[f"large_wins_{k}obj"] = accuracy(large_wins[m])
        table[f"{k}obj_chance"] = 1 / k

    def plot(fig):
        ax = fig.add_subplot(1, 1, 1)
        ks = sorted(set(n_obj.tolist()))
        es = [metrics[f"large_wins_{k}obj"] for k in ks]
        ax.bar(range(len(ks)), [e.value for e in es], yerr=error_bars(es), capsize=3)
        ax.plot(range(len(ks)), [1 / k for k in ks], "k_", markersize=30, label="chance")
        ax.set_xticks(range(len(ks)), [f"{k} objects\n(n={e.n})" for k, e in zip(ks, es)])
        ax.set_ylabel("share: large object ranked first")
        ax.set_title(f"{probe.upper()}: large vs small objects")
        ax.legend()

    return ProbeResult(probe, metrics, table, {"winner_position": win, "large_pos": large_pos, "kept": kept},
                       {"n": len(scenes)}, plot)


def ior(encoder: ImageTextEncoder, scenes: Optional[StimulusSet] = None, n: int = 200, seed: int = 0,
        size: int = 224, classes: Sequence[str] = SHAPE_CLASSES) -> ProbeResult:
    """Image-based object retrieval: scene image vs single-object reference images."""
    scenes = scenes or multi_object_scenes(n=n, seed=seed, size=size, order="random", n_objects=(2, 3, 4), classes=tuple(classes))
    refs = single_objects(tuple(classes), size=scenes.image_size, seed=seed + 1)
    ref = encode_images(encoder, refs.images, len(refs))
    return _scene_retrieval(encode_images(encoder, scenes.images, len(scenes)), ref, scenes, classes, "ior")


def i2tor(encoder: ImageTextEncoder, scenes: Optional[StimulusSet] = None, n: int = 200, seed: int = 0,
          size: int = 224, classes: Sequence[str] = SHAPE_CLASSES, template: str = SINGLE_TEMPLATE) -> ProbeResult:
    """Image-to-text object retrieval: scene image vs single-object texts."""
    scenes = scenes or multi_object_scenes(n=n, seed=seed, size=size, order="random", n_objects=(2, 3, 4), classes=tuple(classes))
    ref = class_embeddings(encoder, list(classes), [template])
    return _scene_retrieval(encode_images(encoder, scenes.images, len(scenes)), ref, scenes, classes, "i2tor")


def matching(encoder: ImageTextEncoder, scenes: Optional[StimulusSet] = None, n: int = 200, seed: int = 0,
             size: int = 224, classes: Sequence[str] = SHAPE_CLASSES) -> ProbeResult:
    """Seed 001's matching: correct caption with the large object first (1) or last (2) vs a caption with one
    object replaced by an absent one; accuracy = share with cos(img, correct) > cos(img, wrong); McNemar 1 vs 2."""
    scenes = scenes or multi_object_scenes(n=n, seed=seed, size=size, order="large_first", n_objects=(2, 3, 4), classes=tuple(classes))
    rng = np.random.default_rng(seed + 7)
    objs = [o.split(SEP) for o in scenes.column("objects")]
    large = [ob[int(lp)] for ob, lp in zip(objs, scenes.column("large_pos"))]
    small = [[o for o in ob if o != lg] for ob, lg in zip(objs, large)]
    caps = {"s1_correct": [], "s1_wrong": [], "s2_correct": [], "s2_wrong": []}
    for lg, sm, ob in zip(large, small, objs):
        absent = str(rng.choice([c for c in classes if c not in ob]))
        victim = ob[int(rng.integers(0, len(ob)))]  # replaced object, the same in both scenarios (paired)
        first, last = [lg] + sm, sm + [lg]
        w_first = [absent if o == victim else o for o in first]
        w_last = [absent if o == victim else o for o in last]
        caps["s1_correct"].append(caption_for(first)); caps["s1_wrong"].append(caption_for(w_first))
        caps["s2_correct"].append(caption_for(last)); caps["s2_wrong"].append(caption_for(w_last))
    img = encode_images(encoder, scenes.images, len(scenes))
    emb = {k: normed(encoder.encode_text(v)) for k, v in caps.items()}
    ok1 = np.sum(img * emb["s1_correct"], 1) > np.sum(img * emb["s1_wrong"], 1)
    ok2 = np.sum(img * emb["s2_correct"], 1) > np.sum(img * emb["s2_wrong"], 1)
    mc = mcnemar(ok1, ok2)
    metrics = {"accuracy_large_first": accuracy(ok1), "accuracy_large_last": accuracy(ok2)}

    def plot(fig):
        ax = fig.add_subplot(1, 1, 1)
        es = list(metrics.values())
        ax.bar([0, 1], [e.value for e in es], yerr=error_bars(es), capsize=4)
        ax.axhline(0.5, color="gray", ls="--", lw=1)
        ax.set_xticks([0, 1], ["large first", "large last"])
        ax.set_ylim(0, 1.05)
        ax.set_title(f"image-text matching (n={es[0].n}); McNemar p={mc['p']:.3g}")

    return ProbeResult("matching", metrics, {"mcnemar": mc}, {"s1": ok1, "s2": ok2}, {"n": len(scenes)}, plot)


def _scenes(enc, n: Optional[int], seed: int, order: str) -> StimulusSet:
    return multi_object_scenes(n=n or 200, seed=seed, size=enc.image_size[0], order=order, n_objects=(2, 3, 4))


register_probe(ProbeSpec(
    "tor", "TOR: which mentioned object does a caption favour?",
    lambda enc, n, seed: tor(enc, n=n or 400, names=COCO_NAMES if getattr(enc, "text_only", False) else SHAPE_CLASSES,
                             seed=seed),
    lambda r: (f"Text-based object retrieval: the first-mentioned object wins {est(r['metrics']['first_wins'])}, the last "
               f"{est(r['metrics']['last_wins'])}."),
    text_only=True, description="captions naming 2-4 objects: which position's object does the caption match best?"))
register_probe(ProbeSpec(
    "ior", "IOR: large vs small objects in a scene image",
    lambda enc, n, seed: ior(enc, scenes=_scenes(enc, n, seed, "random"), seed=seed),
    lambda r: f"Image-based object retrieval: the large object wins {est(r['metrics']['large_wins'])}.",
    description="scene images vs single-object reference images: is the large object retrieved first?"))
register_probe(ProbeSpec(
    "i2tor", "I2TOR: large vs small objects, scene image vs object names",
    lambda enc, n, seed: i2tor(enc, scenes=_scenes(enc, n, seed, "random"), seed=seed),
    lambda r: f"Image-to-text object retrieval: the large object wins {est(r['metrics']['large_wins'])}.",
    description="scene images vs single-object texts: is the large object retrieved first?"))
register_probe(ProbeSpec(
    "matching", "Image-text matching, large object first vs last",
    lambda enc, n, seed: matching(enc, scenes=_scenes(enc, n, seed, "large_first"), seed=seed),
    lambda r: (f"Matching: the correct caption beats a one-object-replaced caption {est(r['metrics']['accuracy_large_first'])} "
               f"with the large object first vs {est(r['metrics']['accuracy_large_last'])} last "
               f"(McNemar p = {r['tables']['mcnemar']['p']:.3g}, {r['tables']['mcnemar']['n_pairs']} pairs)."),
    description="correct caption vs a caption with one object replaced, large object first or last"))
