"""ONNX files from torch models (fp32) and from PT2E int8 graphs (QDQ), single file."""

from __future__ import annotations

import contextlib
import io
import os
import warnings
from pathlib import Path

import torch
from torch import nn

from stylectl.pipelines.models.fold import fold_batchnorm


def export_onnx(model: nn.Module, image_size: int, opset: int, path: Path) -> None:
    """Write `model` as one .onnx file with a fixed 1x3xSxS input, atomically, BatchNorm folded.

    The dynamo exporter lowers PT2E quantize/dequantize ops to QuantizeLinear /
    DequantizeLinear, so the int8 simulation and the int8 file are one model. Its chatter
    goes to stdout, which `--json` reserves, so it is captured.
    """
    model = fold_batchnorm(model)
    example = torch.rand(1, 3, image_size, image_size)
    tmp = path.with_name(f".tmp-{path.name}")
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        program = torch.onnx.export(model, (example,), dynamo=True, external_data=False, opset_version=opset,
                                    input_names=["image"], output_names=["stylized"], verbose=False)
        program.save(str(tmp))
    os.replace(tmp, path)


def op_counts(path: Path) -> dict[str, int]:
    """How many nodes of each op type the file holds (shows QDQ pairs, leftover float ops)."""
    import onnx

    counts: dict[str, int] = {}
    for node in onnx.load(str(path)).graph.node:
        counts[node.op_type] = counts.get(node.op_type, 0) + 1
    return counts
