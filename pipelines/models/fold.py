"""Fold BatchNorm into the preceding conv, so inference graphs hold no normalisation ops.

NPUs and their converters handle a lone BatchNorm poorly (it may stay float between int8
ops); folded, the student is convolutions, ReLUs, adds and resizes only.
"""

from __future__ import annotations

import copy

from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval


def fold_batchnorm(model: nn.Module) -> nn.Module:
    """An eval-mode copy of `model` with every Conv2d -> BatchNorm2d pair in a Sequential fused."""
    folded = copy.deepcopy(model).eval()
    for module in folded.modules():
        if not isinstance(module, nn.Sequential):
            continue
        names = list(module._modules)
        for first, second in zip(names, names[1:]):
            conv, norm = module._modules[first], module._modules[second]
            if isinstance(conv, nn.Conv2d) and isinstance(norm, nn.BatchNorm2d):
                module._modules[first] = fuse_conv_bn_eval(conv, norm)
                module._modules[second] = nn.Identity()
    return folded
