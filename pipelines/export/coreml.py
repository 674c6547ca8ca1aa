"""Core ML packages (mlprogram, fp16 compute): plain, int8 weights, per-block int4 weights and
palettized weights (coremltools.optimize). Core ML predicts only on macOS; here each package is
validated structurally instead (its ops and how its weights are stored), and parity is reported
as not run rather than guessed. `decompressed_conv_weights` reads back the weights a package
computes with, for scoring its compression in torch."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import torch
from torch import nn

from stylectl.pipelines.errors import StylectlError, UserInputError
from stylectl.pipelines.export.source import ExportSource

NOT_RUNNABLE = "not run (needs macOS)"
# How each variant's weights must be stored in the program: the op that expands them, or for linear
# quantization the integer type expanded (`inspect`'s "quantized_weights"): iOS16/17 programs store int8
# in constexpr_affine_dequantize, iOS18 ones int8 and int4 alike in constexpr_blockwise_shift_scale.
WEIGHT_OPS = {"palettized": "constexpr_lut_to_dense"}
WEIGHT_DTYPES = {"int8_weights": "int8", "int4_weights": "int4"}
LINEAR_OPS = {"constexpr_affine_dequantize": "quantized_data", "constexpr_blockwise_shift_scale": "data"}
INT4_TARGETS = {"iOS": "iOS18", "macOS": "macOS15"}  # int4 weights (constexpr_blockwise_shift_scale) are new there


def write(variant: str, source: ExportSource, path: Path, options: dict, opset: int) -> nn.Module:
    """Convert, compress and save one variant as a .mlpackage folder, atomically."""
    import coremltools as ct

    if variant == "int4_weights":
        _check_int4_target(options["minimum_deployment_target"])
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


def _check_int4_target(target: str) -> None:
    """int4 weights need an iOS18/macOS15 program; fail the variant, naming the option, on an older target."""
    import coremltools as ct

    needed = INT4_TARGETS["macOS" if target.startswith("macOS") else "iOS"]
    if getattr(ct.target, target) < getattr(ct.target, needed):
        raise UserInputError(f"export.formats.coreml int4_weights: needs minimum_deployment_target {needed} or "
                             f"later (int4 weights are iOS18/macOS15 constexpr_blockwise_shift_scale ops); "
                             f"it is {target}")


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
    if variant == "int4_weights":  # one scale per output channel, or per block of int4_block_size input channels
        block = options["int4_block_size"]
        config = OptimizationConfig(global_config=OpLinearQuantizerConfig(
            mode="linear_symmetric", dtype="int4", granularity="per_block" if block else "per_channel",
            **({"block_size": block} if block else {}), weight_threshold=options["min_weight_elements"]))
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
    """The program's op counts, deployment spec version and linearly quantized weights (how many
    tensors of each integer type: {"int4": 9}), read back from the saved package."""
    import coremltools as ct

    spec = ct.utils.load_spec(str(path))
    function = spec.mlProgram.functions["main"]
    block = function.block_specializations[function.opset]
    ops: dict[str, int] = {}
    for operation in block.operations:
        ops[operation.type] = ops.get(operation.type, 0) + 1
    return {"ops": ops, "opset": function.opset, "spec_version": spec.specificationVersion,
            "quantized_weights": _quantized_weights(block)}


def _quantized_weights(block) -> dict[str, int]:
    """Count of the weights each linear-dequantize op expands, by the integer type stored."""
    from coremltools.proto import MIL_pb2

    types = {output.name: output.type for operation in block.operations for output in operation.outputs}
    counts: dict[str, int] = {}
    for operation in block.operations:
        field = LINEAR_OPS.get(operation.type)
        if field is None:
            continue
        if field in operation.attributes:  # iOS16/17: the data is an attribute
            value_type = operation.attributes[field].type
        else:  # iOS18: an input, inline or a const's output
            argument = operation.inputs[field].arguments[0]
            value_type = argument.value.type if argument.HasField("value") else types[argument.name]
        dtype = MIL_pb2.DataType.Name(value_type.tensorType.dataType).lower()
        counts[dtype] = counts.get(dtype, 0) + 1
    return counts


def structure_problems(variant: str, info: dict) -> list[str]:
    """What is wrong with a package's structure for its variant (empty when it is right)."""
    problems = []
    if "conv" not in info["ops"]:
        problems.append("no conv ops in the program")
    expected = WEIGHT_OPS.get(variant)
    if expected and expected not in info["ops"]:
        problems.append(f"weights are not compressed (no {expected} op)")
    dtype = WEIGHT_DTYPES.get(variant)
    if dtype and dtype not in info.get("quantized_weights", {}):
        problems.append(f"weights are not compressed (no {dtype} weights in {' or '.join(LINEAR_OPS)} ops)"
                        + ("; a positive int4_block_size must divide a conv's input channels (per group)"
                           if dtype == "int4" else ""))
    return problems


def decompressed_conv_weights(path: Path) -> dict[str, np.ndarray]:
    """Each conv's weight as the saved package computes with it (int8, int4 or palettized weights
    expanded by coremltools' own decompression; uncompressed ones as the fp16 values stored), as
    float32 arrays shaped as torch's Conv2d weights. Keyed by the program's conv op names, in program
    order: the order the torch model's forward runs its convs, so they load into the torch model one
    for one, to score the compression as Core ML computes it (fp16 activations aside)."""
    import coremltools as ct
    from coremltools.optimize.coreml import decompress_weights, get_weights_metadata

    model = ct.models.MLModel(str(path), skip_model_load=True)
    weights = {}
    for name, const in get_weights_metadata(decompress_weights(model), weight_threshold=0).items():
        for child in const.child_ops:
            if child.op_type == "conv" and child.params_name_mapping.get("weight") == name:
                weights[child.name] = np.asarray(const.val, dtype=np.float32)
    spec = ct.utils.load_spec(str(path))
    function = spec.mlProgram.functions["main"]
    order = [operation.attributes["name"].immediateValue.tensor.strings.values[0]
             for operation in function.block_specializations[function.opset].operations if operation.type == "conv"]
    if set(order) != set(weights):
        raise StylectlError(f"{path.name}: could not read back the weight of every conv "
                            f"(missing {sorted(set(order) - set(weights))})")
    return {name: weights[name] for name in order}
