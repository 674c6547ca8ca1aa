"""Core ML packages (mlprogram, fp16 compute): plain, int8 weights and palettized weights
(coremltools.optimize). Core ML predicts only on macOS; here each package is validated
structurally instead (its ops and how its weights are stored), and parity is reported as
not run rather than guessed."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import torch
from torch import nn

from stylectl.pipelines.errors import StylectlError
from stylectl.pipelines.export.source import ExportSource

NOT_RUNNABLE = "not run (needs macOS)"
# How each variant's weights must be stored in the program (the op that expands them).
WEIGHT_OPS = {"int8_weights": "constexpr_affine_dequantize", "palettized": "constexpr_lut_to_dense"}


def write(variant: str, source: ExportSource, path: Path, options: dict, opset: int) -> nn.Module:
    """Convert, compress and save one variant as a .mlpackage folder, atomically."""
    import coremltools as ct

    traced = torch.jit.trace(source.fp32.eval(), source.example())
    model = ct.convert(traced, inputs=[ct.TensorType(name="image", shape=(1, 3, source.image_size, source.image_size))],
                       outputs=[ct.TensorType(name="stylized")], convert_to="mlprogram",
                       compute_precision=ct.precision.FLOAT16,
                       minimum_deployment_target=getattr(ct.target, options["minimum_deployment_target"]))
    model = _compress(model, variant, options)
    tmp = path.with_name(f".tmp-{path.name}")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        model.save(str(tmp))
        if path.exists():
            shutil.rmtree(path)
        os.replace(tmp, path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return source.fp32


def _compress(model, variant: str, options: dict):
    from coremltools.optimize.coreml import (
        OpLinearQuantizerConfig,
        OpPalettizerConfig,
        OptimizationConfig,
        linear_quantize_weights,
        palettize_weights,
    )

    if variant == "int8_weights":
        config = OptimizationConfig(global_config=OpLinearQuantizerConfig(
            mode="linear_symmetric", weight_threshold=options["min_weight_elements"]))
        return linear_quantize_weights(model, config)
    if variant == "palettized":
        config = OptimizationConfig(global_config=OpPalettizerConfig(
            nbits=options["palettize_bits"], mode="kmeans", weight_threshold=options["min_weight_elements"]))
        return palettize_weights(model, config)
    return model


def runnable_here(variant: str) -> str:
    """Core ML predicts only on macOS; stylectl validates packages structurally instead."""
    return NOT_RUNNABLE


def run(path: Path, images: torch.Tensor, threads: int, options: dict) -> torch.Tensor:
    raise StylectlError(f"{path.name}: {NOT_RUNNABLE}")


def time(path: Path, image: torch.Tensor, threads: int, warmup: int, runs: int, options: dict) -> dict:
    raise StylectlError(f"{path.name}: {NOT_RUNNABLE}")


def prepare(path: Path, image: torch.Tensor, threads: int, options: dict):
    raise StylectlError(f"{path.name}: {NOT_RUNNABLE}")


def inspect(path: Path) -> dict:
    """The program's op counts and deployment spec version, read back from the saved package."""
    import coremltools as ct

    spec = ct.utils.load_spec(str(path))
    function = spec.mlProgram.functions["main"]
    block = function.block_specializations[function.opset]
    ops: dict[str, int] = {}
    for operation in block.operations:
        ops[operation.type] = ops.get(operation.type, 0) + 1
    return {"ops": ops, "opset": function.opset, "spec_version": spec.specificationVersion}


def structure_problems(variant: str, info: dict) -> list[str]:
    """What is wrong with a package's structure for its variant (empty when it is right)."""
    problems = []
    if "conv" not in info["ops"]:
        problems.append("no conv ops in the program")
    expected = WEIGHT_OPS.get(variant)
    if expected and expected not in info["ops"]:
        problems.append(f"weights are not compressed (no {expected} op)")
    return problems
