"""Stroke scale: stylize a shrunk copy of a large photo, then bring it back to full size along the
photo's own edges.

A model learns its strokes at the size it was trained on (256-pixel crops), so on a 24 MP photo
they shrink to specks. `--stroke-scale S` runs the model on the photo shrunk S times, which makes
every stroke S times larger, and upsamples the result with the fast guided filter (He and Sun
2015, "Fast Guided Filter"): per colour channel, a local linear model `output = a * guide + b` is
fitted at the small size between the shrunk photo's luminance and the stylized picture, and the
coefficients, which vary smoothly, are upsampled and applied to the full-size luminance. The
strokes keep their colour and size, and the photo's edges come back sharp instead of a blurry
bilinear enlargement.

The full-size output is made a band of rows at a time (coefficients sampled with grid_sample at
exactly the positions a whole-image bilinear upsampling would use), so memory stays that of the
8-bit input and output.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

# The box window at the small size is (2 * RADIUS + 1) pixels: texture finer than it is averaged
# into the linear models, so it is kept at 3x3 to keep the strokes the model painted.
RADIUS = 1
EPSILON = 1e-3  # regularises `a` in flat regions: larger keeps more of the stylized picture, smaller follows the photo
BAND_ROWS = 256  # full-size rows made at a time


def shrink(rgb: np.ndarray, scale: float) -> np.ndarray:
    """The photo with both sides divided by `scale` (at least 8 pixels), for the model to stylize."""
    height, width = rgb.shape[:2]
    size = (max(8, round(width / scale)), max(8, round(height / scale)))
    return np.asarray(Image.fromarray(rgb).resize(size, Image.Resampling.LANCZOS))


def guided_upsample(photo: np.ndarray, small_photo: np.ndarray, small_stylized: np.ndarray) -> np.ndarray:
    """The stylized picture at the photo's full size (HxWx3 uint8), following the photo's edges."""
    guide = _luminance(small_photo)[None, None]
    target = torch.from_numpy(small_stylized).permute(2, 0, 1).float().div(255)[None]
    mean_guide, mean_target = _box(guide), _box(target)
    covariance = _box(guide * target) - mean_guide * mean_target
    variance = _box(guide * guide) - mean_guide * mean_guide
    a = covariance / (variance + EPSILON)
    b = mean_target - a * mean_guide
    coefficients = torch.cat([_box(a), _box(b)], dim=1)  # [1, 6, h, w]: a for R, G, B, then b
    height, width = photo.shape[:2]
    output = np.empty_like(photo)
    for top in range(0, height, BAND_ROWS):
        rows = slice(top, min(top + BAND_ROWS, height))
        sampled = F.grid_sample(coefficients, _grid(rows, height, width), mode="bilinear", padding_mode="border",
                                align_corners=False)[0]
        band = _luminance(photo[rows])
        result = sampled[:3] * band + sampled[3:]
        output[rows] = result.clamp(0, 1).mul(255).round().byte().permute(1, 2, 0).numpy()
    return output


def _luminance(rgb: np.ndarray) -> torch.Tensor:
    """Rec. 601 luma in [0, 1] as [H, W]: the guide the photo's edges come from."""
    weights = torch.tensor([0.299, 0.587, 0.114])
    return torch.tensor(rgb).float().div(255) @ weights  # a copy: the arrays may be read-only


def _box(image: torch.Tensor) -> torch.Tensor:
    """Mean over a (2*RADIUS+1) square window, the window shrunk at the borders."""
    return F.avg_pool2d(image, 2 * RADIUS + 1, stride=1, padding=RADIUS, count_include_pad=False)


def _grid(rows: slice, height: int, width: int) -> torch.Tensor:
    """grid_sample positions of full-size rows `rows` in the small coefficient maps (normalised,
    pixel centres), the same as F.interpolate(..., align_corners=False) over the whole image."""
    ys = (torch.arange(rows.start, rows.stop, dtype=torch.float32) + 0.5) / height * 2 - 1
    xs = (torch.arange(width, dtype=torch.float32) + 0.5) / width * 2 - 1
    grid_y, grid_x = torch.meshgrid(ys, xs, indexing="ij")
    return torch.stack([grid_x, grid_y], dim=-1)[None]
