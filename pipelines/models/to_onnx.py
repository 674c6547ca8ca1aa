"""A torch model as one .onnx file: the primitive the export formats, the quantize stage's
comparisons and ORT's reference quantizer all write through (so quant/ need not import export/)."""

from __future__ import annotations

import contextlib
import copy
import io
import os
import warnings
from pathlib import Path

import torch
from torch import nn

from stylectl.pipelines.models.fold import fold_batchnorm


class HalfPrecision(nn.Module):
    """The model in float16 with float32 input and output (two Casts at the edges), so the
    file plugs in where the fp32 one did."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = copy.deepcopy(model).half()

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.model(image.half()).float()


def export_onnx(model: nn.Module, image_size: int, opset: int, path: Path, dynamic_size: bool = False) -> None:
    """Write `model` as one .onnx file (no external data), atomically, BatchNorm folded.

    The input is 1x3xSxS, or 1x3xHxW with `dynamic_size`. The dynamo exporter lowers PT2E
    quantize/dequantize ops to QuantizeLinear / DequantizeLinear, so the int8 simulation and
    the int8 file are one model. Its chatter goes to stdout, which `--json` reserves, so it is
    captured.
    """
    model = fold_batchnorm(model)
    example = torch.rand(1, 3, image_size, image_size)
    shapes = None
    if dynamic_size:
        # the student needs multiples of 4: sizes 4..4096
        height, width = torch.export.Dim("height", min=1, max=1024), torch.export.Dim("width", min=1, max=1024)
        shapes = ({2: 4 * height, 3: 4 * width},)
    tmp = path.with_name(f".tmp-{path.name}")
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            program = torch.onnx.export(model, (example,), dynamo=True, external_data=False, opset_version=opset,
                                        input_names=["image"], output_names=["stylized"], verbose=False,
                                        dynamic_shapes=shapes)
            program.save(str(tmp))
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
