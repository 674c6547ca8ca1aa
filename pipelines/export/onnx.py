"""ONNX files: fp32, fp16 and int8 QDQ (lowered from the shipped PT2E scheme), one file each,
run in onnxruntime."""

from __future__ import annotations

import contextlib
import copy
import io
import os
import warnings
from pathlib import Path

import torch
from torch import nn

from stylectl.pipelines.export.source import ExportSource
from stylectl.pipelines.latency import run_onnx, time_onnx
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


def write(variant: str, source: ExportSource, path: Path, options: dict, opset: int) -> nn.Module:
    """Write one variant; returns the torch model the file must reproduce."""
    if variant == "int8":
        model = source.int8
        export_onnx(model, source.image_size, opset, path)
        return model
    model = source.fp32 if variant == "fp32" else HalfPrecision(source.fp32)
    export_onnx(model, source.image_size, opset, path, dynamic_size=options["dynamic_size"])
    return model


def run(path: Path, images: torch.Tensor, threads: int, options: dict) -> torch.Tensor:
    return run_onnx(path, images, threads)


def time(path: Path, image: torch.Tensor, threads: int, warmup: int, runs: int, options: dict) -> dict:
    return time_onnx(path, image, threads, warmup, runs)


def inspect(path: Path) -> dict:
    """Op counts and the input shape (a name instead of a number marks a dynamic axis)."""
    import onnx

    graph = onnx.load(str(path)).graph
    shape = [dim.dim_param or dim.dim_value for dim in graph.input[0].type.tensor_type.shape.dim]
    info = {"ops": op_counts(path), "input_shape": shape}
    if "QuantizeLinear" in info["ops"]:
        info["float_compute_ops"] = float_compute_ops(graph)
    return info


def float_compute_ops(graph) -> list[str]:
    """Op types of a QDQ graph that compute on float tensors: some input comes from neither a
    DequantizeLinear nor a constant (the x86 quantizer leaves adds, resizes, sigmoid so)."""
    constants = {initializer.name for initializer in graph.initializer}
    producers = {}
    for node in graph.node:
        for output in node.output:
            producers[output] = node.op_type
    floating = set()
    for node in graph.node:
        if node.op_type in ("QuantizeLinear", "DequantizeLinear", "Constant"):
            continue
        inputs = [name for name in node.input if name and name not in constants]
        if any(producers.get(name) not in ("DequantizeLinear", "Constant") for name in inputs):
            floating.add(node.op_type)
    return sorted(floating)


def op_counts(path: Path) -> dict[str, int]:
    """How many nodes of each op type the file holds (shows QDQ pairs, leftover float ops)."""
    import onnx

    counts: dict[str, int] = {}
    for node in onnx.load(str(path)).graph.node:
        counts[node.op_type] = counts.get(node.op_type, 0) + 1
    return counts
