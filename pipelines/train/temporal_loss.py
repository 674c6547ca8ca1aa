"""The temporal-consistency term of distillation: a model should move with the scene, not shimmer.

A second "frame" is made from each training crop by a random camera move inside it (a shift, and a zoom of a
few percent), so its motion relative to the crop is known exactly (an affine map; no flow estimator). The
model's output on that frame should equal its output on the crop, moved the same way. The moved frame lies
inside the crop, so every pixel of it has a counterpart (the overlap is the whole moved frame); pixels that
enter the view in a real pan are what the crop's margin around the window holds.

The target (the output on the crop, moved) is held fixed: no gradient flows into it. That output is
what the pixel loss anchors to the teacher; when the temporal term could also pull it towards its moved
copies, it smoothed the student away from the teacher (at weight 1: 1.66 dB PSNR for 0.36x the
teacher's flicker, where the fixed target costs 0.23 dB for 0.51x; benchmarks/RESULTS-temporal-forms.md).
With the target fixed, only the moved frame's output is pulled towards the anchored one.

Shift and zoom ranges are those of a hand-held clip's frame-to-frame motion (evaluate's pan clips move 2-3
pixels and zoom 2% per frame); the moved frame keeps 7/8 of the crop's side, rounded to a multiple of 8 so
every student shape accepts it.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

ZOOM = 0.05          # the window's side is the moved frame's times a factor in [1 - ZOOM, 1 + ZOOM]
FRAME_SHARE = 7 / 8  # the moved frame's side, as a share of the crop's; the rest is room to move


def random_moves(count: int, height: int, width: int, frame: int,
                 generator: torch.Generator | None = None) -> Tensor:
    """[count,2,3] affine maps (torch's `affine_grid` form) from a moved frame's normalized coordinates to the
    crop's: a square window `frame` pixels wide times a random zoom, placed at random wholly inside the crop."""
    zoom = 1 + ZOOM * (2 * torch.rand(count, generator=generator) - 1)
    half = torch.stack([frame * zoom / width, frame * zoom / height], dim=1)  # normalized half-sides (x, y)
    center = (1 - half) * (2 * torch.rand(count, 2, generator=generator) - 1)
    moves = torch.zeros(count, 2, 3)
    moves[:, 0, 0], moves[:, 1, 1] = half[:, 0], half[:, 1]
    moves[:, :, 2] = center
    return moves


def moved_frame_size(crop: int) -> int:
    return max(8, int(crop * FRAME_SHARE) // 8 * 8)


def temporal_loss(model: nn.Module, batch: Tensor, output: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """Mean squared difference between `model` on a randomly moved frame of each crop and `output` (the model
    on the crop) moved the same way, as a fixed target. 0 for any model that commutes with resampling
    (identity, per-pixel colour maps)."""
    count, channels, height, width = batch.shape
    frame = moved_frame_size(min(height, width))
    moves = random_moves(count, height, width, frame, generator).to(batch)
    grid = F.affine_grid(moves, [count, channels, frame, frame], align_corners=False)
    moved = F.grid_sample(batch, grid, mode="bilinear", align_corners=False)
    expected = F.grid_sample(output.detach(), grid, mode="bilinear", align_corners=False)
    return F.mse_loss(model(moved), expected)
