"""The teacher: Johnson et al. 2016 fast-neural-style network ("TransformerNet").

It is trained with the perceptual loss and never deployed, so it may use what NPUs dislike
(reflection padding, instance norm); the student learns to imitate its outputs.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Callable

import torch
from torch import nn

NORMS: dict[str, Callable[[int], nn.Module]] = {
    "instance": lambda channels: nn.InstanceNorm2d(channels, affine=True),
    "batch": nn.BatchNorm2d,
    "none": lambda channels: nn.Identity(),
}
_NORM_OF_TYPE = {nn.InstanceNorm2d: "instance", nn.BatchNorm2d: "batch", nn.Identity: "none"}


def _conv(in_ch: int, out_ch: int, kernel: int, stride: int, norm: str, relu: bool = True) -> nn.Sequential:
    """Reflection-padded conv + norm (+ ReLU). Reflection padding avoids the dark borders zero padding paints."""
    layers: OrderedDict[str, nn.Module] = OrderedDict(
        pad=nn.ReflectionPad2d(kernel // 2),
        # A bias right before a normalisation is cancelled by it, so only un-normalised convs get one.
        conv=nn.Conv2d(in_ch, out_ch, kernel, stride, bias=norm == "none"),
        norm=NORMS[norm](out_ch),
    )
    if relu:
        layers["relu"] = nn.ReLU()
    return nn.Sequential(layers)


class ResidualBlock(nn.Module):
    """Two 3x3 convs with a skip connection; no ReLU after the sum, as in the paper."""

    def __init__(self, channels: int, norm: str):
        super().__init__()
        self.conv1 = _conv(channels, channels, 3, 1, norm)
        self.conv2 = _conv(channels, channels, 3, 1, norm, relu=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv2(self.conv1(x))


def _upsample(in_ch: int, out_ch: int, norm: str) -> nn.Sequential:
    """Nearest upsample then conv: avoids the checkerboard artefacts of transposed convs."""
    upsample = nn.Upsample(scale_factor=2, mode="nearest")
    return nn.Sequential(OrderedDict(up=upsample, conv=_conv(in_ch, out_ch, 3, 1, norm)))


class TransformerNet(nn.Module):
    """RGB [0,1] NCHW in, RGB [0,1] out, same size; H and W must be multiples of 4.

    ``width`` 32 with 5 residual blocks is the classic ~1.7M-parameter network.
    """

    def __init__(self, width: int = 32, res_blocks: int = 5, norm: str = "instance"):
        super().__init__()
        if norm not in NORMS:
            raise ValueError(f"teacher norm {norm!r} is not one of {sorted(NORMS)}")
        self.stem = _conv(3, width, 9, 1, norm)
        self.down1 = _conv(width, 2 * width, 3, 2, norm)
        self.down2 = _conv(2 * width, 4 * width, 3, 2, norm)
        self.res = nn.Sequential(*(ResidualBlock(4 * width, norm) for _ in range(res_blocks)))
        self.up1 = _upsample(4 * width, 2 * width, norm)
        self.up2 = _upsample(2 * width, width, norm)
        self.head = _conv(width, 3, 9, 1, "none", relu=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.down2(self.down1(self.stem(x)))
        x = self.up2(self.up1(self.res(x)))
        return torch.sigmoid(self.head(x))

    def spec_params(self) -> dict:
        """Constructor kwargs read back from the layers, so the spec always matches the weights."""
        return {
            "width": self.stem.conv.out_channels,
            "res_blocks": len(self.res),
            "norm": _NORM_OF_TYPE[type(self.stem.norm)],
        }

    def feature_taps(self) -> dict[str, nn.Module]:
        """Modules whose outputs feature distillation compares (attach forward hooks to them)."""
        return {"down2": self.down2, "res_last": self.res[-1], "up1": self.up1}

    def tap_channels(self) -> dict[str, int]:
        """Channels of each feature tap's output, for the 1x1 adapters of feature distillation."""
        return {
            "down2": self.down2.conv.out_channels,
            "res_last": self.res[-1].conv2.conv.out_channels,
            "up1": self.up1.conv.conv.out_channels,
        }
