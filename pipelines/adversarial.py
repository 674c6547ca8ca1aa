"""The adversarial term: hinge losses and real patches cut from the style image."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def discriminator_hinge(real_scores: Tensor, fake_scores: Tensor) -> Tensor:
    """Hinge loss (Lim & Ye 2017): push real patch scores above 1 and fake ones below -1."""
    return F.relu(1 - real_scores).mean() + F.relu(1 + fake_scores).mean()


def generator_hinge(fake_scores: Tensor) -> Tensor:
    """The generator raises the discriminator's score of its output."""
    return -fake_scores.mean()


def style_patches(style: Tensor, count: int, size: int) -> Tensor:
    """`count` random `size`x`size` crops of a (3, H, W) style image, upscaled first if it is smaller."""
    _, height, width = style.shape
    if min(height, width) < size:
        scale = size / min(height, width)
        style = F.interpolate(style[None], scale_factor=scale, mode="bilinear", align_corners=False)[0]
        _, height, width = style.shape
    tops = torch.randint(0, height - size + 1, (count,)).tolist()
    lefts = torch.randint(0, width - size + 1, (count,)).tolist()
    return torch.stack([style[:, top:top + size, left:left + size] for top, left in zip(tops, lefts)])
