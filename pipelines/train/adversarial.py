"""The adversarial term: hinge losses and real patches cut from the style image."""

from __future__ import annotations

import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from torch import Tensor, nn


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


def adversarial_step(module: pl.LightningModule, discriminator: nn.Module, output: Tensor, real: Tensor,
                     other_terms: Tensor, weight: float, clip: float | None) -> dict[str, Tensor]:
    """One generator step then one discriminator step (Lightning manual optimization).

    The module's first optimizer updates the generator (teacher or student), the second the
    discriminator. Returns the logged terms, with the generator's `total`.
    """
    generator_optimizer, discriminator_optimizer = module.optimizers()
    adversarial = generator_hinge(discriminator(output))
    total = other_terms + weight * adversarial
    generator_optimizer.zero_grad()
    module.manual_backward(total)
    if clip:
        module.clip_gradients(generator_optimizer, gradient_clip_val=clip)
    generator_optimizer.step()

    discriminator_loss = discriminator_hinge(discriminator(real), discriminator(output.detach()))
    discriminator_optimizer.zero_grad()
    module.manual_backward(discriminator_loss)
    discriminator_optimizer.step()
    return {"adversarial": adversarial, "discriminator": discriminator_loss, "total": total}
