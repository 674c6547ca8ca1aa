"""A user's ONNX model as the teacher: run in onnxruntime, adapted to stylectl's image convention.

stylectl images are NCHW float RGB in [0, 1]. The ONNX model's own input/output value range
and layout are declared in the YAML (`teacher.onnx`); this wrapper converts both ways, so
distillation and evaluation treat it like the torch teacher (without inner features). A model
with inputs besides the image (a style-weights vector, a strength) gets the constant values of
`teacher.onnx.inputs` on every call.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import torch
from onnx import numpy_helper
from torch import nn

from stylectl.pipelines.errors import UserInputError
from stylectl.pipelines.models.cost import count_onnx_macs

RANGES = {"0..1": (0.0, 1.0), "-1..1": (-1.0, 1.0), "0..255": (0.0, 255.0)}


def _scale(images: torch.Tensor, source: str, target: str) -> torch.Tensor:
    low_s, high_s = RANGES[source]
    low_t, high_t = RANGES[target]
    return (images - low_s) / (high_s - low_s) * (high_t - low_t) + low_t


def _dtype(node) -> np.dtype:
    """The numpy type of an onnxruntime input ('tensor(float)' -> float32, 'tensor(int64)' -> int64)."""
    return onnx.helper.tensor_dtype_to_np_dtype(getattr(onnx.TensorProto, node.type[len("tensor("):-1].upper()))


def _shape(node) -> str:
    """An input's shape as the model declares it, dynamic axes by name: [1, 3, h, w]."""
    return "[" + ", ".join(str(dim) for dim in node.shape) + "]"


class OnnxTeacher(nn.Module):
    """Calls onnxruntime on the whole batch, or image by image when the model's batch axis is
    fixed at 1; no gradients (a teacher is frozen anyway). Every mismatch between the model and
    the config is a one-line UserInputError naming the input, not onnxruntime's traceback."""

    def __init__(self, path: Path, input_range: str, output_range: str, layout: str,
                 inputs: dict[str, list[float]] | None = None, threads: int = 0, shown_as: Path | None = None) -> None:
        """`shown_as` is the file errors name (the user's, when `path` is a stage's copy of it)."""
        super().__init__()
        import onnxruntime as ort

        self.name = shown_as or path
        options = ort.SessionOptions()
        # 0: as many threads as torch uses (a worker pool that sets torch's count keeps the teacher inside it)
        options.intra_op_num_threads = threads or torch.get_num_threads()
        options.log_severity_level = 3
        try:
            self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        except Exception as error:  # onnxruntime raises several types for a bad file
            raise UserInputError(f"{self.name}: not an ONNX model onnxruntime can run ({error})") from None
        self.path, self.input_range, self.output_range, self.layout = path, input_range, output_range, layout
        self.constants = self._constants(inputs or {})
        image = self._image_input(inputs or {})
        self.image_name, self.image_dtype = image.name, _dtype(image)
        batch, *spatial = image.shape[:1] + (image.shape[2:] if layout == "nchw" else image.shape[1:3])
        self.batched = not isinstance(batch, int)
        if not self.batched and batch != 1:
            raise UserInputError(f"{self.name}: the image input '{image.name}' {_shape(image)} has a batch axis fixed at "
                                 f"{batch}; stylectl needs 1 or a dynamic one")
        self.fixed_size = tuple(spatial) if all(isinstance(dim, int) for dim in spatial) else None

    def __deepcopy__(self, memo: dict) -> "OnnxTeacher":
        """The teacher itself: it has no weights to copy and its session is read-only, while
        onnxruntime sessions cannot be copied. Lightning's weight averaging copies the whole
        training module, teacher included."""
        return self

    def _constants(self, inputs: dict[str, list[float]]) -> dict[str, np.ndarray]:
        """`teacher.onnx.inputs` as arrays of each input's type and shape (flat lists are reshaped)."""
        declared = {node.name: node for node in self.session.get_inputs()}
        constants = {}
        for name, values in inputs.items():
            if name not in declared:
                raise UserInputError(f"{self.name}: teacher.onnx.inputs.{name}: the model has no input '{name}' "
                                     f"(its inputs: {', '.join(declared)})")
            node = declared[name]
            try:
                shape = [dim if isinstance(dim, int) else -1 for dim in node.shape]
                constants[name] = np.asarray(values, dtype=_dtype(node)).reshape(shape)
            except ValueError:
                raise UserInputError(f"{self.name}: teacher.onnx.inputs.{name} has {len(values)} values; the "
                                     f"model's input '{name}' has shape {_shape(node)}") from None
        return constants

    def _image_input(self, inputs: dict[str, list[float]]):
        """The input not set in `teacher.onnx.inputs` (the first 4-D one, when several are left: the
        others are reported as missing values), checked against the declared layout."""
        free = [node for node in self.session.get_inputs() if node.name not in inputs]
        image = next((node for node in free if len(node.shape) == 4), None)
        if image is None:
            found = ", ".join(f"'{node.name}' {_shape(node)}" for node in free) or "none"
            raise UserInputError(f"{self.name}: needs one 4-D image input besides teacher.onnx.inputs; found {found}")
        for node in free:
            if node is not image:
                raise UserInputError(f"{self.name}: the model's input '{node.name}' {_shape(node)} has no value "
                                     f"(the image is '{image.name}'): set teacher.onnx.inputs.{node.name}")
        channels = image.shape[1 if self.layout == "nchw" else 3]
        if isinstance(channels, int) and channels != 3:
            raise UserInputError(f"{self.name}: the image input '{image.name}' {_shape(image)} has {channels} "
                                 f"channels in {self.layout} layout, not 3 (RGB): check teacher.onnx.layout")
        return image

    def feeds(self, images: np.ndarray) -> dict[str, np.ndarray]:
        """One onnxruntime call's inputs: the images (in the model's range, layout and type) and the constants."""
        return {self.image_name: images.astype(self.image_dtype, copy=False), **self.constants}

    def model_input(self, images: torch.Tensor) -> torch.Tensor:
        """stylectl images converted to what the ONNX model takes (its range and layout)."""
        if self.fixed_size and tuple(images.shape[2:]) != self.fixed_size:
            size = "x".join(map(str, self.fixed_size))
            raise UserInputError(f"{self.name}: the model takes {size} images only; stylectl asked for "
                                 f"{images.shape[2]}x{images.shape[3]} (data.eval_size, data.crop_size)")
        feed = _scale(images, "0..1", self.input_range)
        return feed.permute(0, 2, 3, 1).contiguous() if self.layout == "nhwc" else feed

    def macs(self, image_size: int) -> int:
        """Multiply-accumulates of one image_size x image_size image, counted on the ONNX graph."""
        shape = (1, 3, image_size, image_size) if self.layout == "nchw" else (1, image_size, image_size, 3)
        return count_onnx_macs(self.path, self.feeds(np.zeros(shape, np.float32)))

    def save_standalone(self, target: Path) -> None:
        """Write the model with the `inputs` constants baked in as initializers: the image is then
        its only input, so the latency harness times it like any exported file."""
        model = onnx.load(str(self.path))
        kept = [node for node in model.graph.input if node.name not in self.constants]
        del model.graph.input[:]
        model.graph.input.extend(kept)
        model.graph.initializer.extend(numpy_helper.from_array(value, name) for name, value in self.constants.items())
        onnx.save(model, str(target))

    def check_sizes(self, sizes: list[int]) -> None:
        """Run one blank image of each size: the model must take it and give back an RGB image of
        the same size (forward raises the one-line error when it does not)."""
        for size in sorted(set(sizes)):
            self(torch.zeros(1, 3, size, size))

    @torch.no_grad()
    def forward(self, images: torch.Tensor) -> torch.Tensor:
        feed = self.model_input(images).cpu().numpy()
        chunks = [feed] if self.batched else np.split(feed, len(feed))
        outputs = [self.session.run(None, self.feeds(chunk))[0] for chunk in chunks]
        result = torch.from_numpy(np.concatenate(outputs)).float()
        if self.layout == "nhwc":
            result = result.permute(0, 3, 1, 2)
        if result.shape != images.shape:
            raise UserInputError(f"{self.name}: output shape {tuple(result.shape)} does not match the input "
                                 f"{tuple(images.shape)} (check teacher.onnx.layout)")
        return _scale(result, self.output_range, "0..1").clamp(0, 1).to(images.device)
