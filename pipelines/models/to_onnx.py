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
from stylectl.pipelines.models.qdq_types import NARROW_OPSET, narrow, opset_for


class HalfPrecision(nn.Module):
    """The model in float16 with float32 input and output (two Casts at the edges), so the
    file plugs in where the fp32 one did."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = copy.deepcopy(model).half()

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.model(image.half()).float()


def export_onnx(model: nn.Module, image_size: int, opset: int, path: Path, dynamic_size: bool = False,
                int4_weights: bool = False) -> None:
    """Write `model` as one .onnx file (no external data), atomically, BatchNorm folded.

    The input is 1x3xSxS, or 1x3xHxW with `dynamic_size`. The dynamo exporter lowers PT2E
    quantize/dequantize ops to QuantizeLinear / DequantizeLinear, so the int8 simulation and
    the int8 file are one model. Its chatter goes to stdout, which `--json` reserves, so it is
    captured. A graph with 16-bit activations, or 4-bit weights (`int4_weights`), is written at
    opset 21 with uint16 activations and INT4 weights (qdq_types.py).
    """
    model = fold_batchnorm(model)
    opset = opset_for(model, opset, int4_weights)
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
        _global_pools(tmp)
        if opset >= NARROW_OPSET:
            narrow(tmp, int4_weights)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _global_pools(path: Path) -> None:
    """Rewrite each mean over both spatial axes of a 4-D tensor (how the exporter writes
    adaptive_avg_pool2d(1): ReduceMean, axes [-2, -1], keepdims) as GlobalAveragePool, in place.

    The same function, but onnxruntime's CPU provider has an int8 kernel for a GlobalAveragePool
    between DequantizeLinear and QuantizeLinear (QLinearGlobalAveragePool) and none for ReduceMean,
    which ran the global context's six full-size means in float: on the quickstart's int8 file
    6.9 -> 5.3 ms per image (1 thread, 7 alternating rounds), output unchanged (max difference 0).
    """
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(path))
    shapes = onnx.shape_inference.infer_shapes(model)
    ranks = {value.name: len(value.type.tensor_type.shape.dim)
             for value in [*shapes.graph.value_info, *shapes.graph.input] if value.type.tensor_type.HasField("shape")}
    constants = {tensor.name: numpy_helper.to_array(tensor).tolist() for tensor in model.graph.initializer}
    rewritten = False
    for node in model.graph.node:
        keepdims = next((attribute.i for attribute in node.attribute if attribute.name == "keepdims"), 1)
        if (node.op_type == "ReduceMean" and len(node.input) == 2 and ranks.get(node.input[0]) == 4 and keepdims
                and sorted(constants.get(node.input[1], [])) in ([-2, -1], [2, 3])):
            node.op_type = "GlobalAveragePool"
            del node.input[1:]
            del node.attribute[:]
            rewritten = True
    if rewritten:
        used = {name for node in model.graph.node for name in node.input}
        kept = [tensor for tensor in model.graph.initializer if tensor.name in used]
        del model.graph.initializer[:]
        model.graph.initializer.extend(kept)
        onnx.save(model, str(path))
