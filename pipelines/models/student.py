"""The student: a small style network built for phone NPUs from the start.

Every op maps to int8 NPU kernels: zero-padded convs, BatchNorm (folded into the conv at
export), ReLU, nearest upsampling, depth-to-space, additions. No InstanceNorm, reflection
padding or transposed convs, which NPUs run in float or on the CPU. Every channel count is a
constructor argument so a pruned network can be rebuilt from its spec.

Two heads bring the half-resolution features back to full size:
- ``pixel_shuffle`` (default): a 3x3 conv at half resolution predicts each 2x2 block of
  output pixels (12 channels) and depth-to-space lays them out (as in ESPCN). Nothing runs at
  full resolution but the stem, which is where the time went: at full resolution the layers
  have few channels, so CPU and NPU vector units run them far below their MAC rate.
- ``conv``: a second nearest-upsample + separable conv stage, then a 3x3 conv to RGB, all at
  full resolution.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

import torch
from torch import nn

# Channels at width 1.0: stem, the two downsampling stages, the two upsampling stages (the
# pixel-shuffle head uses only the first). Sized so the default student (width 1.0, 3 blocks,
# expansion 1.5) costs under 1/25 of the classic teacher's MACs: most of the budget goes to
# the 1/4-resolution blocks, where channels are cheapest.
BASE_STEM = 16
BASE_DOWN = (32, 72)
BASE_UP = (32, 16)
HEADS = ("pixel_shuffle", "conv")
SHUFFLE = 2  # the pixel-shuffle head's upscale factor: half resolution to full


def _round_channels(value: float) -> int:
    """Multiples of 4 suit NPU vector lanes; 4 is the floor so no layer vanishes."""
    return max(4, int(round(value / 4)) * 4)


def student_params(width: float, blocks: int, expansion: float, head: str = "pixel_shuffle") -> dict:
    """StudentNet kwargs for a width multiplier, block count, expansion ratio and head (the YAML's student.*)."""
    bottleneck = _round_channels(BASE_DOWN[1] * width)
    up = [_round_channels(c * width) for c in BASE_UP]
    return {
        "stem": _round_channels(BASE_STEM * width),
        "down": [_round_channels(BASE_DOWN[0] * width), bottleneck],
        "block_mid": [_round_channels(bottleneck * expansion)] * blocks,
        "up": up if head == "conv" else up[:1],
        "head": head,
    }


def conv_bn(in_ch: int, out_ch: int, kernel: int, stride: int = 1, groups: int = 1, relu: bool = True) -> nn.Sequential:
    """Conv (no bias: the BatchNorm after it has one) + BatchNorm (+ ReLU)."""
    layers: OrderedDict[str, nn.Module] = OrderedDict(
        conv=nn.Conv2d(in_ch, out_ch, kernel, stride, kernel // 2, groups=groups, bias=False),
        bn=nn.BatchNorm2d(out_ch),
    )
    if relu:
        layers["relu"] = nn.ReLU()
    return nn.Sequential(layers)


def _down(in_ch: int, out_ch: int) -> nn.Sequential:
    """Depthwise stride-2 conv halves the resolution, a pointwise conv changes the channels."""
    return nn.Sequential(
        OrderedDict(depthwise=conv_bn(in_ch, in_ch, 3, 2, groups=in_ch), pointwise=conv_bn(in_ch, out_ch, 1))
    )


def _up(in_ch: int, out_ch: int) -> nn.Sequential:
    """Nearest upsample + depthwise-separable conv, the NPU-friendly stand-in for a transposed conv."""
    return nn.Sequential(
        OrderedDict(
            up=nn.Upsample(scale_factor=2, mode="nearest"),
            depthwise=conv_bn(in_ch, in_ch, 3, groups=in_ch),
            pointwise=conv_bn(in_ch, out_ch, 1),
        )
    )


class InvertedResidual(nn.Module):
    """MobileNetV2 block: expand, depthwise, linear projection, plus the input."""

    def __init__(self, channels: int, mid: int):
        super().__init__()
        self.expand = conv_bn(channels, mid, 1)
        self.depthwise = conv_bn(mid, mid, 3, groups=mid)
        self.project = conv_bn(mid, channels, 1, relu=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.project(self.depthwise(self.expand(x)))


class StudentNet(nn.Module):
    """RGB [0,1] NCHW in, RGB [0,1] out, same size; H and W must be multiples of 4.

    ``down`` gives the channels after each downsampling stage (the second is the bottleneck
    width the blocks keep), ``block_mid`` each block's expanded width, ``up`` the channels
    after each upsampling stage (two for the ``conv`` head, one for ``pixel_shuffle``). Build
    the default shapes with ``student_params``. Files saved before the pixel-shuffle head
    existed have no ``head`` in their spec: they are ``conv``.
    """

    def __init__(self, stem: int, down: Sequence[int], block_mid: Sequence[int], up: Sequence[int],
                 head: str = "conv"):
        super().__init__()
        up_stages = 2 if head == "conv" else 1
        if head not in HEADS or len(down) != 2 or len(up) != up_stages or not block_mid:
            raise ValueError(f"student needs a head in {HEADS}, 2 down, {up_stages} up and >= 1 block widths, "
                             f"got {head=}, {down=}, {up=}, {block_mid=}")
        self.head_kind = head
        self.stem = conv_bn(3, stem, 3)
        self.down1 = _down(stem, down[0])
        self.down2 = _down(down[0], down[1])
        self.blocks = nn.Sequential(*(InvertedResidual(down[1], mid) for mid in block_mid))
        self.up1 = _up(down[1], up[0])
        if head == "conv":
            self.up2 = _up(up[0], up[1])
            self.head = nn.Conv2d(up[1], 3, 3, padding=1)
        else:
            self.head = nn.Conv2d(up[0], 3 * SHUFFLE**2, 3, padding=1)
            self.shuffle = nn.PixelShuffle(SHUFFLE)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.up1(self.blocks(self.down2(self.down1(self.stem(x)))))
        if self.head_kind == "conv":
            return torch.sigmoid(self.head(self.up2(x)))
        return self.shuffle(torch.sigmoid(self.head(x)))

    def spec_params(self) -> dict:
        """Constructor kwargs read from the layers' actual shapes, so they stay right after pruning."""
        up = [self.up1.pointwise.conv.out_channels]
        if self.head_kind == "conv":
            up.append(self.up2.pointwise.conv.out_channels)
        return {
            "stem": self.stem.conv.out_channels,
            "down": [self.down1.pointwise.conv.out_channels, self.down2.pointwise.conv.out_channels],
            "block_mid": [block.expand.conv.out_channels for block in self.blocks],
            "up": up,
            "head": self.head_kind,
        }

    def equalization_pairs(self) -> list[tuple[str, str]]:
        """Consecutive convs with only ReLU / nearest upsampling between them, for cross-layer
        equalization. Convs feeding a residual add are left out: scaling one branch of an add
        would change the sum."""
        pairs = [("stem.conv", "down1.depthwise.conv"), ("down1.depthwise.conv", "down1.pointwise.conv"),
                 ("down1.pointwise.conv", "down2.depthwise.conv"), ("down2.depthwise.conv", "down2.pointwise.conv")]
        for index in range(len(self.blocks)):
            pairs += [(f"blocks.{index}.expand.conv", f"blocks.{index}.depthwise.conv"),
                      (f"blocks.{index}.depthwise.conv", f"blocks.{index}.project.conv")]
        pairs.append(("up1.depthwise.conv", "up1.pointwise.conv"))
        if self.head_kind == "conv":
            pairs += [("up1.pointwise.conv", "up2.depthwise.conv"), ("up2.depthwise.conv", "up2.pointwise.conv"),
                      ("up2.pointwise.conv", "head")]
        else:
            pairs.append(("up1.pointwise.conv", "head"))
        return pairs

    def feature_taps(self) -> dict[str, nn.Module]:
        """Modules whose outputs feature distillation compares with the teacher's taps of the same name."""
        return {"down2": self.down2, "res_last": self.blocks[-1], "up1": self.up1}

    def tap_channels(self) -> dict[str, int]:
        """Channels of each feature tap's output, for the 1x1 adapters of feature distillation."""
        bottleneck = self.down2.pointwise.conv.out_channels
        return {"down2": bottleneck, "res_last": bottleneck, "up1": self.up1.pointwise.conv.out_channels}
