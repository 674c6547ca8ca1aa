"""Losses for teacher training and distillation, and the distances evaluation reports.

Multi-layer losses sum over layers and average over the batch, so the evaluation's style
and content distances are the very quantities training minimises.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from stylectl.pipelines.errors import UserInputError
from stylectl.pipelines.models.vgg import VGGFeatures

PIXEL_LOSSES = {"l1": F.l1_loss, "l2": F.mse_loss}


def gram_matrix(features: Tensor) -> Tensor:
    """Channel correlations (N, C, C), divided by C*H*W so layers of any size weigh alike."""
    n, c, h, w = features.shape
    flat = features.reshape(n, c, h * w)
    return flat @ flat.transpose(1, 2) / (c * h * w)


def content_loss(a: Tensor, b: Tensor) -> Tensor:
    """MSE between feature maps: Johnson et al.'s feature reconstruction loss."""
    return F.mse_loss(a, b)


def style_loss(features: dict[str, Tensor], target_grams: dict[str, Tensor]) -> Tensor:
    """Sum over layers of the MSE between each image's Gram matrix and the target's (1, C, C)."""
    return sum(
        F.mse_loss(gram_matrix(features[name]), target.expand(features[name].shape[0], -1, -1))
        for name, target in target_grams.items()
    )


def gram_distance(features_a: dict[str, Tensor], features_b: dict[str, Tensor], layers: Sequence[str],
                  relative: bool = False) -> Tensor:
    """Sum over layers of the MSE between the Gram matrices of two batches, image by image: how far
    apart two sets of images are in texture, whatever their layout (a student against its teacher).

    `relative` divides it by the scale it is measured on, the sum over layers of the mean square of
    `features_b`'s Gram entries (detached: a yardstick), so the distance is a relative texture error.
    """
    grams_b = {name: gram_matrix(features_b[name]) for name in layers}
    distance = sum(F.mse_loss(gram_matrix(features_a[name]), grams_b[name]) for name in layers)
    if relative:
        distance = distance / sum(gram.detach().pow(2).mean() for gram in grams_b.values()).clamp_min(1e-12)
    return distance


def total_variation(x: Tensor) -> Tensor:
    """Mean absolute difference between neighbouring pixels: a mean, so its weight does not depend on image size."""
    return (x[..., 1:, :] - x[..., :-1, :]).abs().mean() + (x[..., :, 1:] - x[..., :, :-1]).abs().mean()


def pixel_loss(a: Tensor, b: Tensor, kind: str) -> Tensor:
    """``l1`` or ``l2`` distance between images (distillation to the teacher's output)."""
    if kind not in PIXEL_LOSSES:
        raise UserInputError(f"pixel loss {kind!r} is not one of {sorted(PIXEL_LOSSES)}")
    return PIXEL_LOSSES[kind](a, b)


def feature_distance(features_a: dict[str, Tensor], features_b: dict[str, Tensor], layers: Sequence[str]) -> Tensor:
    """Sum over ``layers`` of the MSE between two sets of feature maps (already computed)."""
    return sum(content_loss(features_a[name], features_b[name]) for name in layers)


def perceptual_distance(vgg: VGGFeatures, a: Tensor, b: Tensor, layers: Sequence[str]) -> Tensor:
    """Sum over ``layers`` of the MSE between the VGG features of ``a`` and ``b``."""
    return feature_distance(vgg(a, layers), vgg(b, layers), layers)


def style_grams(vgg: VGGFeatures, style_image: Tensor, layers: Sequence[str]) -> dict[str, Tensor]:
    """Gram matrices (1, C, C) of a (3, H, W) style image at ``layers``."""
    with torch.no_grad():
        features = vgg(style_image.unsqueeze(0).to(vgg.device), layers)
    return {name: gram_matrix(features[name]) for name in layers}


class PerceptualLoss(nn.Module):
    """Johnson et al.'s training loss: content + Gram style + total variation.

    The style image's Grams are computed once and kept as non-persistent buffers: they
    move with the module to the training device but, like the VGG weights, are rebuilt
    from their sources instead of being stored in checkpoints. ``forward`` returns the
    unweighted terms, for logging, and their weighted sum as ``total``, the value to minimise.
    """

    def __init__(
        self,
        vgg: VGGFeatures,
        style_image: Tensor,
        content_layers: Sequence[str],
        style_layers: Sequence[str],
        content_weight: float,
        style_weight: float,
        tv_weight: float,
    ):
        super().__init__()
        self.vgg = vgg
        self.content_layers, self.style_layers = tuple(content_layers), tuple(style_layers)
        self.content_weight, self.style_weight, self.tv_weight = content_weight, style_weight, tv_weight
        for name, gram in style_grams(vgg, style_image, self.style_layers).items():
            self.register_buffer(f"gram_{name}", gram, persistent=False)

    def forward(self, output: Tensor, content: Tensor) -> dict[str, Tensor]:
        features = self.vgg(output, set(self.content_layers + self.style_layers))
        with torch.no_grad():
            targets = self.vgg(content, self.content_layers)
        terms = {
            "content": feature_distance(features, targets, self.content_layers),
            "style": style_loss(features, {name: getattr(self, f"gram_{name}") for name in self.style_layers}),
            "tv": total_variation(output),
        }
        terms["total"] = (
            self.content_weight * terms["content"] + self.style_weight * terms["style"] + self.tv_weight * terms["tv"]
        )
        return terms


def style_distance(vgg: VGGFeatures, images: Tensor, style_image: Tensor, layers: Sequence[str]) -> float:
    """Gram style loss of a batch of images to the (3, H, W) style image, averaged over the batch."""
    with torch.no_grad():
        return float(style_loss(vgg(images, layers), style_grams(vgg, style_image, layers)))


def content_distance(vgg: VGGFeatures, images: Tensor, contents: Tensor, layers: Sequence[str]) -> float:
    """VGG feature distance of stylised images to their content photos, averaged over the batch."""
    with torch.no_grad():
        return float(perceptual_distance(vgg, images, contents, layers))
