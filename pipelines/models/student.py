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

Four options let it copy teachers whose strokes are large or whose look depends on the whole
photo (instance-normalized teachers), still with NPU ops only:
- ``kernel``: the blocks' depthwise kernel (5 or 7 widen the receptive field for few MACs);
- ``dilation``: the blocks' depthwise convs skip pixels (2: a 3x3 kernel spans 5x5), wider
  still at the same MACs;
- ``low``: a 1/8-resolution stage (stride-2 depthwise down, inverted-residual blocks, 1x1 conv,
  nearest upsample, added back at 1/4), where depthwise convs are nearly free;
- ``context``: each block scales and shifts its features by a function of their global mean and
  mean square (``GlobalContext``): what instance normalization computes, from global average
  pooling, multiplies, adds and 1x1 convs only, so int8 NPUs keep it on the accelerator.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from typing import TYPE_CHECKING

import torch
from torch import nn

if TYPE_CHECKING:
    from stylectl.pipelines.config import StudentConfig

# Channels at width 1.0: stem, the two downsampling stages, the two upsampling stages (the
# pixel-shuffle head uses only the first). Sized so the default student (width 1.0, 3 blocks,
# expansion 1.5) costs under 1/25 of the classic teacher's MACs: most of the budget goes to
# the 1/4-resolution blocks, where channels are cheapest.
BASE_STEM = 16
BASE_DOWN = (32, 72)
BASE_UP = (32, 16)
BASE_LOW = 96  # channels of the 1/8-resolution stage at width 1.0
HEADS = ("pixel_shuffle", "conv")
SHUFFLE = 2  # the pixel-shuffle head's upscale factor: half resolution to full


def _round_channels(value: float) -> int:
    """Multiples of 4 suit NPU vector lanes; 4 is the floor so no layer vanishes."""
    return max(4, int(round(value / 4)) * 4)


def student_params(width: float, blocks: int, expansion: float, head: str = "pixel_shuffle", kernel: int = 3,
                   low_blocks: int = 0, context: bool = False, dilation: int = 1, skip: bool = False) -> dict:
    """StudentNet kwargs from the YAML's student.* sizes and options."""
    bottleneck = _round_channels(BASE_DOWN[1] * width)
    up = [_round_channels(c * width) for c in BASE_UP]
    low = _round_channels(BASE_LOW * width)
    low_mid = [_round_channels(low * expansion)] * low_blocks
    block_mid = [_round_channels(bottleneck * expansion)] * blocks
    return {
        "stem": _round_channels(BASE_STEM * width),
        "down": [_round_channels(BASE_DOWN[0] * width), bottleneck],
        "block_mid": block_mid,
        "up": up if head == "conv" else up[:1],
        "head": head,
        "kernel": kernel,
        "dilation": dilation,
        "low": [low, *low_mid] if low_blocks else [],
        "context": [_round_channels(mid / 4) for mid in block_mid + low_mid] if context else [],
        "skip": skip,
    }


def student_params_for(settings: "StudentConfig") -> dict:
    """StudentNet kwargs for a config's `student:` section: the one place its options reach the net."""
    return student_params(settings.width, settings.blocks, settings.expansion, settings.head, settings.kernel,
                          settings.low_blocks, settings.context, settings.dilation, settings.skip)


def conv_bn(in_ch: int, out_ch: int, kernel: int, stride: int = 1, groups: int = 1, relu: bool = True,
            dilation: int = 1) -> nn.Sequential:
    """Conv (no bias: the BatchNorm after it has one) + BatchNorm (+ ReLU); same-size padding."""
    layers: OrderedDict[str, nn.Module] = OrderedDict(
        conv=nn.Conv2d(in_ch, out_ch, kernel, stride, dilation * (kernel // 2), dilation, groups=groups, bias=False),
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


class GlobalContext(nn.Module):
    """Per-channel scale and shift computed from the features' global mean and mean square.

    Instance normalization maps each channel to ``a * x + b`` with ``a`` and ``b`` functions of
    that channel's mean and variance over the whole image. This module learns such functions
    (two 1x1 convs on the pooled statistics, ReLU, two 1x1 convs out) and applies
    ``x * gain + shift``: global average pooling, multiply, add and 1x1 convs, all of which
    int8 NPUs run, where InstanceNorm's division and square root stay float. No concat or
    split, so torch-pruning's dependency graph couples every channel without special cases.

    The gain conv's bias starts at 1 (identity). One multiply and one add at full size, not
    the two adds of ``x + x * scale + shift``: onnxruntime's x86 CPU runs the student 11% faster
    (15.5 vs 17.3 ms); a ``+ 1`` on the pooled tensor instead would be a conv followed by a
    constant add, which torchao's x86 quantizer rejects. Files saved before this form stored
    ``gain - 1``: ``upgrade_legacy_context`` converts them on load.
    """

    def __init__(self, channels: int, hidden: int):
        super().__init__()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.mean = nn.Conv2d(channels, hidden, 1)
        self.square = nn.Conv2d(channels, hidden, 1, bias=False)
        self.relu = nn.ReLU()
        self.gain = nn.Conv2d(hidden, channels, 1)
        self.shift = nn.Conv2d(hidden, channels, 1)
        for conv in (self.gain, self.shift):  # start as the identity: training decides how much context helps
            nn.init.zeros_(conv.weight)
        nn.init.ones_(self.gain.bias)
        nn.init.zeros_(self.shift.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        hidden = self.relu(self.mean(self.pool(x)) + self.square(self.pool(x * x)))
        return x * self.gain(hidden) + self.shift(hidden)


def upgrade_legacy_context(tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Weights saved when global context computed ``x + x * scale + shift``, renamed and shifted
    to today's ``x * gain + shift`` (gain = 1 + scale): the same function, so old files keep working."""
    upgraded = {}
    for name, tensor in tensors.items():
        if ".context.scale." in name:
            name = name.replace(".context.scale.", ".context.gain.")
            tensor = tensor + 1 if name.endswith(".bias") else tensor
        upgraded[name] = tensor
    return upgraded


class InvertedResidual(nn.Module):
    """MobileNetV2 block: expand, depthwise, (global context,) linear projection, plus the input."""

    def __init__(self, channels: int, mid: int, kernel: int = 3, context_hidden: int = 0, dilation: int = 1):
        super().__init__()
        self.expand = conv_bn(channels, mid, 1)
        self.depthwise = conv_bn(mid, mid, kernel, groups=mid, dilation=dilation)
        self.context = GlobalContext(mid, context_hidden) if context_hidden else nn.Identity()
        self.project = conv_bn(mid, channels, 1, relu=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.project(self.context(self.depthwise(self.expand(x))))


class LowStage(nn.Module):
    """A 1/8-resolution detour added back at 1/4: down, blocks, 1x1 conv back to the bottleneck
    width, nearest upsample. Each 3x3 depthwise conv here widens the receptive field by 16 input
    pixels at a quarter of the cost it has at 1/4 resolution."""

    def __init__(self, channels: int, low: int, block_mid: Sequence[int], kernel: int, context: Sequence[int],
                 dilation: int = 1):
        super().__init__()
        self.down = _down(channels, low)
        self.blocks = nn.Sequential(*(InvertedResidual(low, mid, kernel, hidden, dilation)
                                      for mid, hidden in zip(block_mid, context or [0] * len(block_mid))))
        self.back = conv_bn(low, channels, 1, relu=False)
        self.up = nn.Upsample(scale_factor=2, mode="nearest")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.up(self.back(self.blocks(self.down(x))))


class StudentNet(nn.Module):
    """RGB [0,1] NCHW in, RGB [0,1] out, same size; H and W must be multiples of 4 (of 8 with a
    ``low`` stage).

    ``down`` gives the channels after each downsampling stage (the second is the bottleneck
    width the blocks keep), ``block_mid`` each block's expanded width, ``up`` the channels
    after each upsampling stage (two for the ``conv`` head, one for ``pixel_shuffle``). Build
    the default shapes with ``student_params``. ``low`` is empty, or the 1/8 stage's width
    followed by its blocks' expanded widths. ``context`` is empty, or the hidden width of every
    block's global context (the 1/4 blocks, then the 1/8 ones): stored, not derived, because
    pruning may narrow it. Files saved before an option existed have no
    entry for it in their spec, and the default here is what they were: a ``conv`` head,
    3x3 kernels, no dilation, no 1/8 stage, no context.
    """

    def __init__(self, stem: int, down: Sequence[int], block_mid: Sequence[int], up: Sequence[int],
                 head: str = "conv", kernel: int = 3, low: Sequence[int] = (), context: Sequence[int] = (),
                 dilation: int = 1, skip: bool = False):
        super().__init__()
        up_stages = 2 if head == "conv" else 1
        blocks = len(block_mid) + max(len(low) - 1, 0)
        if (head not in HEADS or len(down) != 2 or len(up) != up_stages or not block_mid or kernel % 2 == 0
                or len(context) not in (0, blocks) or dilation < 1 or (skip and up[0] != down[0])):
            raise ValueError(f"student needs a head in {HEADS}, 2 down, {up_stages} up, >= 1 block widths, an odd "
                             f"kernel, a context width per block or none, a dilation >= 1 and, with a skip, as many "
                             f"up[0] as down[0] channels, got {head=}, {down=}, {up=}, {block_mid=}, {kernel=}, "
                             f"{low=}, {context=}, {dilation=}, {skip=}")
        self.head_kind, self.kernel, self.dilation, self.has_context = head, kernel, dilation, bool(context)
        self.skip = skip
        hidden = list(context) or [0] * blocks
        self.stem = conv_bn(3, stem, 3)
        self.down1 = _down(stem, down[0])
        self.down2 = _down(down[0], down[1])
        self.blocks = nn.Sequential(*(InvertedResidual(down[1], mid, kernel, width, dilation)
                                      for mid, width in zip(block_mid, hidden)))
        self.low = (LowStage(down[1], low[0], low[1:], kernel, hidden[len(block_mid):], dilation) if low
                    else nn.Identity())
        self.up1 = _up(down[1], up[0])
        if head == "conv":
            self.up2 = _up(up[0], up[1])
            self.head = nn.Conv2d(up[1], 3, 3, padding=1)
        else:
            self.head = nn.Conv2d(up[0], 3 * SHUFFLE**2, 3, padding=1)
            self.shuffle = nn.PixelShuffle(SHUFFLE)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        half = self.down1(self.stem(x))
        x = self.up1(self.low(self.blocks(self.down2(half))))
        if self.skip:
            x = x + half
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
            "kernel": self.kernel,
            "dilation": self.dilation,
            "low": ([self.low.down.pointwise.conv.out_channels,
                     *(block.expand.conv.out_channels for block in self.low.blocks)]
                    if isinstance(self.low, LowStage) else []),
            "context": [block.context.mean.out_channels for block in self._all_blocks()] if self.has_context else [],
            "skip": self.skip,
        }

    def _all_blocks(self) -> list[InvertedResidual]:
        return [*self.blocks, *(self.low.blocks if isinstance(self.low, LowStage) else [])]

    def equalization_pairs(self) -> list[tuple[str, str]]:
        """Consecutive convs with only ReLU / nearest upsampling between them, for cross-layer
        equalization. Convs feeding a residual add are left out: scaling one branch of an add
        would change the sum (so are down1's and up1's outputs with a skip), and so are the
        depthwise -> project pairs of blocks with global context, whose statistics would change
        with the scaling."""
        pairs = [("stem.conv", "down1.depthwise.conv"), ("down1.depthwise.conv", "down1.pointwise.conv"),
                 ("down1.pointwise.conv", "down2.depthwise.conv"), ("down2.depthwise.conv", "down2.pointwise.conv")]
        if self.skip:  # down1's output also feeds the skip's add, and so does up1's
            pairs.remove(("down1.pointwise.conv", "down2.depthwise.conv"))
        blocks = [f"blocks.{index}" for index in range(len(self.blocks))]
        if isinstance(self.low, LowStage):
            pairs += [("low.down.depthwise.conv", "low.down.pointwise.conv")]
            blocks += [f"low.blocks.{index}" for index in range(len(self.low.blocks))]
        for block in blocks:
            pairs.append((f"{block}.expand.conv", f"{block}.depthwise.conv"))
            if not self.has_context:
                pairs.append((f"{block}.depthwise.conv", f"{block}.project.conv"))
        pairs.append(("up1.depthwise.conv", "up1.pointwise.conv"))
        if not self.skip:
            pairs.append(("up1.pointwise.conv", "up2.depthwise.conv" if self.head_kind == "conv" else "head"))
        if self.head_kind == "conv":
            pairs += [("up2.depthwise.conv", "up2.pointwise.conv"), ("up2.pointwise.conv", "head")]
        return pairs

    def feature_taps(self) -> dict[str, nn.Module]:
        """Modules whose outputs feature distillation compares with the teacher's taps of the same name."""
        return {"down2": self.down2, "res_last": self.low if isinstance(self.low, LowStage) else self.blocks[-1],
                "up1": self.up1}

    def tap_channels(self) -> dict[str, int]:
        """Channels of each feature tap's output, for the 1x1 adapters of feature distillation."""
        bottleneck = self.down2.pointwise.conv.out_channels
        return {"down2": bottleneck, "res_last": bottleneck, "up1": self.up1.pointwise.conv.out_channels}
