"""A user's ONNX model as the teacher: run in onnxruntime, adapted to stylectl's image convention.

stylectl images are NCHW float RGB in [0, 1]. The ONNX model's own input/output value range
and layout are declared in the YAML (`teacher.onnx`); this wrapper converts both ways, so
distillation and evaluation treat it like the torch teacher (without inner features).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from stylectl.pipelines.errors import UserInputError

RANGES = {"0_1": (0.0, 1.0), "-1_1": (-1.0, 1.0), "0_255": (0.0, 255.0)}


def _scale(images: torch.Tensor, source: str, target: str) -> torch.Tensor:
    low_s, high_s = RANGES[source]
    low_t, high_t = RANGES[target]
    return (images - low_s) / (high_s - low_s) * (high_t - low_t) + low_t


class OnnxTeacher(nn.Module):
    """Calls onnxruntime image by image; no gradients (a teacher is frozen anyway)."""

    def __init__(self, path: Path, input_range: str, output_range: str, layout: str, threads: int = 0) -> None:
        super().__init__()
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.log_severity_level = 3
        try:
            self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        except Exception as error:  # onnxruntime raises several types for a bad file
            raise UserInputError(f"{path}: not an ONNX model onnxruntime can run ({error})") from None
        inputs = self.session.get_inputs()
        if len(inputs) != 1:
            raise UserInputError(f"{path}: an ONNX teacher must have exactly one (image) input, found {len(inputs)}")
        self.input_name = inputs[0].name
        self.path, self.input_range, self.output_range, self.layout = path, input_range, output_range, layout

    def model_input(self, images: torch.Tensor) -> torch.Tensor:
        """stylectl images converted to what the ONNX model takes (its range and layout)."""
        feed = _scale(images, "0_1", self.input_range)
        return feed.permute(0, 2, 3, 1).contiguous() if self.layout == "nhwc" else feed

    @torch.no_grad()
    def forward(self, images: torch.Tensor) -> torch.Tensor:
        feed = self.model_input(images)
        outputs = [self.session.run(None, {self.input_name: image[None].contiguous().numpy()})[0] for image in feed]
        result = torch.from_numpy(np.concatenate(outputs)).float()
        if self.layout == "nhwc":
            result = result.permute(0, 3, 1, 2)
        if result.shape != images.shape:
            raise UserInputError(f"{self.path}: output shape {tuple(result.shape)} does not match the input "
                                 f"{tuple(images.shape)} (check teacher.onnx.layout)")
        return _scale(result, self.output_range, "0_1").clamp(0, 1).to(images.device)
