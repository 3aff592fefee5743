"""The main job (`clip-interp run`): every stage on one model, each resumable, into a report folder."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

MAIN_SITES = ["visual.blocks.*.mlp.post:cls,mean", "visual.blocks.*.attn.pattern:cls_row,object_mass",
              "visual.proj", "text.blocks.*.mlp.post:eot", "text.proj"]


def run_main(model: str, out: Path, n: Optional[int] = None, device: str = "cpu", progress: bool = True) -> str:
    """Run the chain and return a short text summary; results land in `out/`."""
    from probes.stimuli import colour_patches

    from .capture import CaptureRequest, capture, open_store
    from .models import load_model

    out.mkdir(parents=True, exist_ok=True)
    lm = load_model(model, device=device)
    stimuli = colour_patches(n=n or 110, seed=0, size=lm.image_size[0])
    request = CaptureRequest.parse(MAIN_SITES, lm.sites(), has_masks=True)
    store_path = out / "store.h5"
    capture(lm, stimuli, request, store_path, batch_size=32, resume=store_path.exists(), progress=progress)
    with open_store(store_path) as st:
        summary = {"model": lm.spec, "store": str(store_path), "rows": st.n_committed, "complete": st.complete,
                   "datasets": [f"{s}:{r} {list(st[s, r].shape)}" for s, r in st.keys()]}
    (out / "summary.json").write_text(json.dumps(summary, indent=1))
    lines = [f"model {summary['model']}: {summary['rows']} stimuli, {len(summary['datasets'])} datasets -> {store_path}"]
    lines += [f"  {d}" for d in summary["datasets"][:6]] + ([f"  ... ({len(summary['datasets']) - 6} more)"] if len(summary["datasets"]) > 6 else [])
    return "\n".join(lines)
