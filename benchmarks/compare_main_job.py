"""Compare the numbers of two main-job report folders (e.g. before and after a refactor), metric by metric.

    python benchmarks/compare_main_job.py BEFORE_DIR AFTER_DIR

Reads each folder's stage results (either layout: the first wave's bare stage JSON, or {"key", "result"}), and
prints every probe metric, census count, attention summary and ablation target effect that differs, then a count
of those that are equal. Exit status 1 when a value (not a CI) differs.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path


def _stage(folder: Path, name: str) -> dict:
    for n in (name, name.replace("ablation-ior", "ablation-ior-heads")):
        p = folder / "stages" / f"{n}.json"
        if p.exists():
            d = json.loads(p.read_text())
            return d["result"] if "key" in d and "result" in d else d
    return {}


def numbers(folder: Path) -> dict[str, float]:
    """Flat name -> value of everything comparable in one report folder."""
    out: dict[str, float] = {}
    for probe in ("colour", "stroop", "tor", "ior", "i2tor", "matching", "shape-bias", "context"):
        for k, v in _stage(folder, f"probe-{probe}").get("metrics", {}).items():
            out[f"probe {probe}: {k}"] = v["value"]
            out[f"probe {probe}: {k} (n)"] = v["n"]
            out[f"probe {probe}: {k} (CI)"] = (round(v["lo"], 6), round(v["hi"], 6))
    for red in ("cls", "mean"):
        p = folder / "census" / f"census_{red}.json"
        if p.exists():
            for site, row in json.loads(p.read_text())["per_layer"].items():
                for c, v in row.items():
                    out[f"census {red} {site}: {c}"] = v
    p = folder / "attention" / "attention.json"
    if p.exists():
        for k, v in json.loads(p.read_text())["summary"].items():
            out[f"attention {k}"] = round(v["value"], 9)
    for exp in ("ablation-stroop", "ablation-colour", "ablation-ior"):
        r = _stage(folder, exp)
        effect = r.get("effect", {})
        if "value" in effect:  # the first wave's head experiment stored one estimate, of IOR's large_wins
            effect = {"large_wins": effect}
        for k, v in effect.items():
            out[f"{exp} target effect: {k}"] = round(v["value"], 9)
        if "target_size" in r or "heads" in r:
            out[f"{exp} target size"] = r.get("target_size", sum(len(h) for h in r.get("heads", {}).values()))
    return out


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__)
        return 2
    a, b = (numbers(Path(x)) for x in argv)
    same, changed_value = 0, 0
    for k in sorted(set(a) | set(b)):
        if a.get(k) == b.get(k):
            same += 1
            continue
        kind = "CI " if k.endswith("(CI)") else ""
        if not kind:
            changed_value += 1
        print(f"{kind}differs  {k}: {a.get(k, 'absent')} -> {b.get(k, 'absent')}")
    print(f"{same} equal, {changed_value} values differ")
    return 1 if changed_value else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
