"""Object masks -> fractional coverage of each patch, through the same resize + centre crop as the image."""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F


def patch_coverage(masks: np.ndarray | torch.Tensor, image_size: tuple[int, int], grid: tuple[int, int]) -> torch.Tensor:
    """coverage[b, k, gh*gw]: share of each patch covered by object k (masks[b, k, h, w], any resolution).

    The mask is resized so its short side matches the model input and centre-cropped, as open_clip's eval
    preprocessing does to the image, then averaged over each patch.
    """
    m = torch.as_tensor(np.asarray(masks), dtype=torch.float32)
    b, k, h, w = m.shape
    th, tw = image_size
    scale = max(th / h, tw / w)
    rh, rw = max(th, round(h * scale)), max(tw, round(w * scale))
    m = F.interpolate(m.reshape(b * k, 1, h, w), size=(rh, rw), mode="bilinear", align_corners=False)
    top, left = (rh - th) // 2, (rw - tw) // 2
    m = m[:, :, top : top + th, left : left + tw]
    gh, gw = grid
    cov = F.adaptive_avg_pool2d(m, (gh, gw)) if (th % gh or tw % gw) else F.avg_pool2d(m, (th // gh, tw // gw))
    return cov.reshape(b, k, gh * gw).clamp_(0, 1)
