"""ONNX files: fp32, fp16 and int8 QDQ (the shipped PT2E scheme lowered at its own bits: int8
weights and activations, or uint16 activations and INT4 weights where the scheme has them), one
file each, run in onnxruntime."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from stylectl.pipelines.export.source import ExportSource
from stylectl.pipelines.measure.latency import Timed, prepare_onnx, run_onnx, time_onnx
from stylectl.pipelines.models.to_onnx import HalfPrecision, export_onnx


FUSED_ACTIVATIONS = ("Relu", "Clip")
FUSING_OPS = ("Conv", "Add")


def write(variant: str, source: ExportSource, path: Path, options: dict, opset: int) -> nn.Module:
    """Write one variant; returns the torch model the file must reproduce."""
    if variant == "int8":
        model = source.integer
        export_onnx(model, source.image_size, opset, path, int4_weights=source.scheme.weight_bits == 4)
        return model
    model = source.fp32 if variant == "fp32" else HalfPrecision(source.fp32)
    export_onnx(model, source.image_size, opset, path, dynamic_size=options["dynamic_size"])
    return model


def run(path: Path, images: torch.Tensor, threads: int, options: dict) -> torch.Tensor:
    return run_onnx(path, images, threads)


def time(path: Path, image: torch.Tensor, threads: int, warmup: int, runs: int, options: dict) -> dict:
    return time_onnx(path, image, threads, warmup, runs)


def prepare(path: Path, image: torch.Tensor, threads: int, options: dict) -> Timed:
    return prepare_onnx(path, image, threads)


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
    DequantizeLinear nor a constant. A Relu right after the Conv or Add it belongs to (their only
    consumer) does not count: onnxruntime, QNN and TFLite fuse it into that op's int8 kernel."""
    constants = {initializer.name for initializer in graph.initializer}
    producers, consumers = {}, {}
    for node in graph.node:
        for output in node.output:
            producers[output] = node
        for name in node.input:
            consumers[name] = consumers.get(name, 0) + 1
    floating = set()
    for node in graph.node:
        if node.op_type in ("QuantizeLinear", "DequantizeLinear", "Constant"):
            continue
        inputs = [producers.get(name) for name in node.input if name and name not in constants]
        if node.op_type in FUSED_ACTIVATIONS and len(inputs) == 1 and inputs[0] is not None \
                and inputs[0].op_type in FUSING_OPS and consumers[inputs[0].output[0]] == 1:
            continue
        if any(producer is None or producer.op_type not in ("DequantizeLinear", "Constant") for producer in inputs):
            floating.add(node.op_type)
    return sorted(floating)


def op_counts(path: Path) -> dict[str, int]:
    """How many nodes of each op type the file holds (shows QDQ pairs, leftover float ops)."""
    import onnx

    counts: dict[str, int] = {}
    for node in onnx.load(str(path)).graph.node:
        counts[node.op_type] = counts.get(node.op_type, 0) + 1
    return counts


def runnable_here(variant: str) -> None:
    """Its runtime is a dependency of stylectl: every machine runs these files."""
    return None


def structure_problems(variant: str, info: dict) -> list[str]:
    """Nothing beyond parity: every file is run and compared with its torch source."""
    return []
