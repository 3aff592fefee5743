"""Causal experiments: ablate a neuron set, measure behaviour, and compare with matched random neuron sets.

Every effect carries a bootstrap 95% CI over stimuli (paired: the same stimuli with and without ablation), the
distribution of effects of >= 100 random neuron sets matched in layer and mean activation, the permutation p of
the target among them, McNemar for the paired accuracies, and optionally a dose-response curve.
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Callable, Mapping, Optional, Sequence

import numpy as np
import torch

from probes.behaviour.base import class_embeddings
from probes.stats import Estimate, bootstrap, mcnemar, permutation_p

from ..errors import InterpError
from ..models.hooks import attached
from ..models.loaded import LoadedModel
from .ablate import Reference, neuron_ablation


@dataclass
class Task:
    """One zero-shot decision task: rows of the evaluation images, their true class, the class embeddings."""

    rows: np.ndarray
    truth: np.ndarray
    classes: np.ndarray  # [C, d]


class ZeroShotEval:
    """Zero-shot decisions of the image tower on fixed images against fixed text class embeddings.

    Interventions touch only the image tower, so text embeddings are computed once.
    """

    def __init__(self, lm: LoadedModel, images: torch.Tensor, tasks: Mapping[str, Task],
                 derived: Optional[Mapping[str, tuple[str, str]]] = None, batch: int = 64) -> None:
        self.lm, self.images, self.tasks, self.batch = lm, images, dict(tasks), batch
        self.derived = dict(derived or {})  # name -> (task a, task b): accuracy(a) - accuracy(b)

    @torch.no_grad()
    def correct(self, hooks: Optional[Mapping] = None, context: Optional[Callable[[], contextlib.AbstractContextManager]] = None) -> dict[str, np.ndarray]:
        """Per-task correctness arrays under the given hooks (and/or context manager)."""
        embs = []
        bindings = self.lm.adapter.bindings()
        with attached(bindings, hooks or {}), (context() if context else contextlib.nullcontext()):
            for i in range(0, len(self.images), self.batch):
                e = self.lm.model.encode_image(self.images[i : i + self.batch])
                embs.append(torch.nn.functional.normalize(e.float(), dim=-1).numpy())
        emb = np.concatenate(embs)
        return {k: (emb[t.rows] @ t.classes.T).argmax(1) == t.truth for k, t in self.tasks.items()}

    def metrics(self, correct: Mapping[str, np.ndarray]) -> dict[str, float]:
        """Accuracy per task and each derived difference."""
        out = {k: float(v.mean()) for k, v in correct.items()}
        out.update({k: out[a] - out[b] for k, (a, b) in self.derived.items()})
        return out


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
    tasks = {"ink_incongruent": Task(inc, ink[inc], ink_c), "ink_congruent": Task(con, ink[con], ink_c),
             "word_incongruent": Task(inc, word[inc], word_c),
             "colour_patches": Task(prow, np.array([t_idx[x] for x in cp.column("colour")]), col_c)}
    return ZeroShotEval(lm, images, tasks, {"stroop_effect": ("ink_congruent", "ink_incongruent")})


def matched_random_sets(target: Mapping[str, np.ndarray], mean_act: Mapping[str, np.ndarray], n_sets: int,
                        seed: int = 0, pool: int = 10) -> list[dict[str, np.ndarray]]:
    """Random neuron sets with the target's per-site counts, each unit drawn among the `pool` non-target units of
    its site nearest in mean activation to the target unit it stands in for (no unit twice in a set)."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n_sets):
        s_set = {}
        for site, units in target.items():
            units = np.asarray(units, int)
            m = mean_act[site]
            cand = np.setdiff1d(np.arange(len(m)), units)
            if len(cand) < len(units):
                raise InterpError(f"{site}: {len(units)} target units leave only {len(cand)} others to match")
            chosen: list[int] = []
            for u in rng.permutation(units):
                free = np.setdiff1d(cand, chosen)
                near = free[np.argsort(np.abs(m[free] - m[u]))[: max(pool, 1)]]
                chosen.append(int(rng.choice(near)))
            s_set[site] = np.array(sorted(chosen))
        out.append(s_set)
    return out


@dataclass
class AblationResult:
    """Target effect per metric with CI, random-set distribution, p, McNemar, and dose-response."""

    target_size: int
    mode: str
    baseline: dict[str, Estimate]
    ablated: dict[str, Estimate]
    effect: dict[str, Estimate]
    random_effects: dict[str, np.ndarray]
    p_value: dict[str, float]
    mcnemar: dict[str, dict]
    dose: list[dict] = field(default_factory=list)
    units: dict[str, list[int]] = field(default_factory=dict)

    def to_json(self) -> dict:
        """JSON-able summary."""
        def q(a):
            return {"mean": float(np.mean(a)), "lo": float(np.quantile(a, 0.025)), "hi": float(np.quantile(a, 0.975)),
                    "n_sets": int(len(a))}
        return {"target_size": self.target_size, "mode": self.mode,
                "baseline": {k: v.as_dict() for k, v in self.baseline.items()},
                "ablated": {k: v.as_dict() for k, v in self.ablated.items()},
                "effect": {k: v.as_dict() for k, v in self.effect.items()},
                "random_sets": {k: q(v) for k, v in self.random_effects.items()},
                "p_value": self.p_value, "mcnemar": self.mcnemar, "dose_response": self.dose, "units": self.units}

    def table(self) -> str:
        """Aligned text table: baseline, ablated, effect [CI], random sets, p."""
        lines = [f"ablating {self.target_size} units ({self.mode}); random sets: mean [2.5%, 97.5%]"]
        for k in self.effect:
            r = self.random_effects[k]
            lines.append(f"  {k:<18} base {self.baseline[k].value:.3f} -> {self.ablated[k].value:.3f}  effect "
                         f"{self.effect[k].value:+.3f} [{self.effect[k].lo:+.3f}, {self.effect[k].hi:+.3f}]  random "
                         f"{np.mean(r):+.3f} [{np.quantile(r, .025):+.3f}, {np.quantile(r, .975):+.3f}]  p={self.p_value[k]:.3g}")
        return "\n".join(lines)


def _paired_effect(ev: ZeroShotEval, base: dict[str, np.ndarray], abl: dict[str, np.ndarray], seed: int) -> dict[str, Estimate]:
    out = {}
    for k in ev.tasks:
        d = abl[k].astype(float) - base[k].astype(float)
        out[k] = bootstrap(lambda r: float(r.mean()), d, 1000, seed)
    for k, (a, b) in ev.derived.items():
        na = len(base[a])
        data = np.concatenate([np.column_stack([abl[a] - base[a].astype(float), np.zeros(na)]),
                               np.column_stack([abl[b] - base[b].astype(float), np.ones(len(base[b]))])])
        out[k] = bootstrap(lambda r: float(r[r[:, 1] == 0, 0].mean() - r[r[:, 1] == 1, 0].mean()), data, 1000, seed,
                           strata=data[:, 1])
    return out


def _acc_estimates(ev: ZeroShotEval, correct: dict[str, np.ndarray]) -> dict[str, Estimate]:
    from probes.stats import accuracy, diff_of_proportions

    out = {k: accuracy(v) for k, v in correct.items()}
    out.update({k: diff_of_proportions(correct[a], correct[b]) for k, (a, b) in ev.derived.items()})
    return out


def ablation_experiment(lm: LoadedModel, ev: ZeroShotEval, target: Mapping[str, np.ndarray], mode: str = "mean",
                        n_controls: int = 100, reference: Optional[Reference] = None,
                        ranking: Optional[Mapping[str, np.ndarray]] = None, dose: Sequence[int] = (),
                        dose_controls: int = 20, seed: int = 0, progress: bool = False) -> AblationResult:
    """Ablate `target` units (site -> unit indices) and compare with matched random sets.

    `ranking` (site -> score per target unit, higher = more selective) orders units for the dose-response.
    """
    target = {s: np.asarray(u, int) for s, u in target.items() if len(u)}
    n_target = sum(len(u) for u in target.values())
    if n_target == 0:
        raise InterpError("the target neuron set is empty: nothing to ablate")
    from .ablate import collect_reference

    if mode != "zero" and reference is None:
        reference = collect_reference(lm, ev.images, list(target))
    ref_for_matching = reference or collect_reference(lm, ev.images[:256], list(target))
    mean_act = {s: ref_for_matching.unit_means(s) for s in target}
    base = ev.correct()
    abl = ev.correct(neuron_ablation(target, mode, reference))
    base_m, abl_m = ev.metrics(base), ev.metrics(abl)
    effect = _paired_effect(ev, base, abl, seed)
    sets = matched_random_sets(target, mean_act, n_controls, seed)
    it = sets
    if progress:
        from tqdm.auto import tqdm

        it = tqdm(sets, desc="random sets", unit="set")
    rand = {k: [] for k in base_m}
    for s in it:
        m = ev.metrics(ev.correct(neuron_ablation(s, mode, reference)))
        for k in rand:
            rand[k].append(m[k] - base_m[k])
    rand_arr = {k: np.array(v) for k, v in rand.items()}
    # two-sided rank of the target among the random sets, centred on the random sets' mean effect
    p = {k: permutation_p(abl_m[k] - base_m[k] - rand_arr[k].mean(), rand_arr[k] - rand_arr[k].mean(), "two-sided")
         for k in rand}
    mc = {k: mcnemar(base[k], abl[k]) for k in ev.tasks}
    dose_rows = []
    if dose and ranking is not None:
        flat = [(float(sc), s, int(u)) for s in target for u, sc in zip(target[s], ranking[s])]
        flat.sort(key=lambda x: -x[0])
        for k in dose:
            k = min(k, len(flat))
            sub: dict[str, list[int]] = {}
            for _, s, u in flat[:k]:
                sub.setdefault(s, []).append(u)
            sub_a = {s: np.array(u) for s, u in sub.items()}
            m = ev.metrics(ev.correct(neuron_ablation(sub_a, mode, reference)))
            ctrl = [ev.metrics(ev.correct(neuron_ablation(r, mode, reference)))
                    for r in matched_random_sets(sub_a, mean_act, dose_controls, seed + k)]
            dose_rows.append({"k": k, **{f"effect_{name}": m[name] - base_m[name] for name in base_m},
                              **{f"random_{name}": [c[name] - base_m[name] for c in ctrl] for name in base_m}})
    return AblationResult(n_target, mode, _acc_estimates(ev, base), _acc_estimates(ev, abl), effect, rand_arr, p, mc,
                          dose_rows, {s: u.tolist() for s, u in target.items()})
