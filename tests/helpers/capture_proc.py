"""A capture run in its own process, printing each commit, for the SIGKILL tests and the soak benchmark."""
import sys

import torch

torch.set_num_threads(1)

from interp import load_model  # noqa: E402
from interp.capture import CaptureRequest, capture  # noqa: E402
from probes.stimuli import colour_patches  # noqa: E402

spec, out, n, resume = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4] == "resume"
lm = load_model(spec)
stimuli = colour_patches(n=n, seed=1, size=lm.image_size[0])
req = CaptureRequest.parse(["visual.blocks.*.mlp.post:cls,mean,max", "visual.blocks.*.attn.pattern:cls_row,object_mass",
                            "visual.blocks.1.resid_post:all", "text.blocks.*.mlp.post:eot", "text.proj"],
                           lm.sites(), has_masks=True)
print("ready", flush=True)
capture(lm, stimuli, req, out, batch_size=4, resume=resume, progress=False,
        on_commit=lambda r: print(f"queued {r}", flush=True))
print("done", flush=True)
