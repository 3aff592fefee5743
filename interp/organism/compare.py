"""Side-by-side behavioural probes of several models (planted vs control organism): the README's table."""
from __future__ import annotations

from typing import Sequence

from probes.stats import Estimate

ROWS = [("colour", "accuracy_chromatic"), ("colour", "accuracy_achromatic"), ("colour", "achromatic_deficit"),
        ("colour", "achromatic_label_rate"), ("stroop", "word_accuracy_incongruent"), ("stroop", "ink_accuracy_congruent"),
        ("stroop", "ink_accuracy_incongruent"), ("stroop", "stroop_effect"), ("stroop", "incongruent_closer_to_word"),
        ("stroop", "ink_accuracy_nonword"), ("tor", "first_wins"), ("tor", "last_wins"), ("ior", "large_wins"),
        ("i2tor", "large_wins"), ("matching", "accuracy_large_first"), ("matching", "accuracy_large_last"),
        ("shape-bias", "shape_bias"), ("shape-bias", "accuracy_shape_only"), ("context", "accuracy_usual"),
        ("context", "accuracy_unusual")]


def compare(specs: Sequence[str], rows=ROWS) -> tuple[dict[str, dict[str, Estimate]], str]:
    """Run the probes of `rows` on each model; return estimates and a Markdown table."""
    from ..behaviour import run_probe
    from ..models import load_model

    out: dict[str, dict[str, Estimate]] = {}
    for spec in specs:
        lm = load_model(spec)
        cache = {}
        for probe, metric in rows:
            if probe not in cache:
                cache[probe] = run_probe(probe, lm)
            out.setdefault(spec, {})[f"{probe}: {metric}"] = cache[probe].metrics[metric]
    head = "| probe: metric | " + " | ".join(specs) + " |\n|---|" + "---|" * len(specs)
    lines = [head]
    for probe, metric in rows:
        key = f"{probe}: {metric}"
        lines.append(f"| {key} | " + " | ".join(f"{out[s][key].value:.3f} [{out[s][key].lo:.3f}, {out[s][key].hi:.3f}] (n={out[s][key].n})"
                                             for s in specs) + " |")
    return out, "\n".join(lines)
