"""Cross-layer equalization (Nagel et al., 2019) for BatchNorm-folded students.

Depthwise convs often have per-channel weight ranges that differ by orders of magnitude,
which per-tensor int8 cannot represent. For two convs with only a ReLU (or nearest
upsample) between them, scaling channel i of the first by 1/s and the matching input of
the second by s leaves the function unchanged (both commute with positive scaling); s is
chosen so both ranges become sqrt(r1 * r2). Written by hand: no maintained library offers
it for PT2E graphs (AIMET does, for its own model format).
"""

from __future__ import annotations

import torch
from torch import nn

PASSES = 4  # chained pairs share convs; a few passes let the ranges settle


def _output_range(conv: nn.Conv2d) -> torch.Tensor:
    return conv.weight.detach().abs().flatten(1).amax(dim=1)


def _input_range(conv: nn.Conv2d) -> torch.Tensor:
    weight = conv.weight.detach().abs()
    if conv.groups == conv.in_channels and conv.groups > 1:  # depthwise: input i is filter i
        return weight.flatten(1).amax(dim=1)
    return weight.transpose(0, 1).flatten(1).amax(dim=1)


@torch.no_grad()
def _equalize_pair(first: nn.Conv2d, second: nn.Conv2d) -> None:
    r1, r2 = _output_range(first), _input_range(second)
    scale = torch.where((r1 > 0) & (r2 > 0), (r1 / r2).sqrt(), torch.ones_like(r1))
    first.weight.div_(scale.view(-1, 1, 1, 1))
    if first.bias is not None:
        first.bias.div_(scale)
    if second.groups == second.in_channels and second.groups > 1:
        second.weight.mul_(scale.view(-1, 1, 1, 1))
    else:
        second.weight.mul_(scale.view(1, -1, 1, 1))


def equalize(folded: nn.Module) -> nn.Module:
    """Equalize, in place, every pair the model names in `equalization_pairs()`; returns it."""
    modules = dict(folded.named_modules())
    pairs = [(modules[a], modules[b]) for a, b in folded.equalization_pairs()]
    for _ in range(PASSES):
        for first, second in pairs:
            _equalize_pair(first, second)
    return folded
