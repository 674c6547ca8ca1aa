"""TFLite (LiteRT) files: fp32, fp16 weights and full-integer int8, converted with litert-torch
and run in ai-edge-litert (tflite_runtime when that is the runtime installed).

Full-integer int8 needs every op annotated int8, which the x86 quantizer of the quantize
stage does not do (it leaves adds, resizes and the sigmoid in float). So the int8 file is
the shipped scheme re-applied with litert-torch's own PT2E quantizer: the scheme's weight
granularity and activation calibration, the same calibration crops; its parity is measured
against that PT2E simulation, and evaluate scores it against the teacher like every file.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import numpy as np
import torch
from torch import nn

from stylectl.pipelines.errors import StylectlError
from stylectl.pipelines.export.source import ExportSource
from stylectl.pipelines.measure.latency import Timed, time_inference

HALF_WEIGHT_OPS = ("CONV_2D", "DEPTHWISE_CONV_2D")
# Ops that only move int8 tensors between float and int8 (at the file's edges); anything
# else float inside an int8 file would be computed in float.
EDGE_OPS = {"QUANTIZE", "DEQUANTIZE", "RELU_0_TO_1", "TRANSPOSE"}


class ClampedIO(nn.Module):
    """The model between two clamps to [0, 1]: litert's quantizer leaves a clamp on a graph
    input or output in float, which gives an int8 file float input and output tensors."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.model(image.clamp(0, 1)).clamp(0, 1)


def interpreter(path: Path, threads: int = 1):
    """A LiteRT interpreter, allocated; and the name of the runtime that made it."""
    try:
        from ai_edge_litert.interpreter import Interpreter

        runtime = "ai-edge-litert"
    except ImportError:  # the older package name of the same runtime
        from tflite_runtime.interpreter import Interpreter

        runtime = "tflite_runtime"
    model = Interpreter(model_path=str(path), num_threads=threads)
    model.allocate_tensors()
    return model, runtime


def write(variant: str, source: ExportSource, path: Path, options: dict, opset: int) -> nn.Module:
    """Write one variant atomically; returns the torch model the file must reproduce."""
    import litert_torch

    tmp = path.with_name(f".tmp-{path.name}")
    try:
        if variant == "int8":
            reference, quantizer = _int8_simulation(source, options)
            from litert_torch.quantize.quant_config import QuantConfig

            edge = litert_torch.convert(_layout(reference, options), (_example(source, options),),
                                        quant_config=QuantConfig(pt2e_quantizer=quantizer))
            edge.export(str(tmp))
        else:
            reference = source.fp32
            litert_torch.convert(_layout(reference, options), (_example(source, options),)).export(str(tmp))
            if variant == "fp16":
                reference = _half_weights(source.fp32)
                tmp.write_bytes(_float16_weights(tmp))
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return reference


def _example(source: ExportSource, options: dict) -> torch.Tensor:
    example = source.example()
    return example.permute(0, 2, 3, 1).contiguous() if options["nhwc"] else example


def _layout(model: nn.Module, options: dict) -> nn.Module:
    import litert_torch

    return litert_torch.to_channel_last_io(model, args=[0], outputs=[0]) if options["nhwc"] else model


def _int8_simulation(source: ExportSource, options: dict):
    """The shipped scheme under litert-torch's quantizer, calibrated on the stage's crops."""
    from litert_torch.quantize import pt2e_quantizer
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e

    from stylectl.pipelines.export.tflite_quantizer import ResidualAddQuantizer
    from stylectl.pipelines.quant.build import calibrate
    from stylectl.pipelines.quant.schemes import activation_observer

    scheme = source.scheme
    if (scheme.kind != "int" or scheme.weight_bits != 8 or scheme.activation_bits != 8 or not scheme.weight_symmetric
            or scheme.activations_16bit):
        raise StylectlError(f"full-integer TFLite needs symmetric int8 weights and int8 activations everywhere; quantize.ship "
                            f"is '{scheme.name}' ({scheme.describe()})")
    config = pt2e_quantizer.get_symmetric_quantization_config(is_per_channel=scheme.weight_granularity == "per_channel")
    observer = dataclasses.replace(config.input_activation, observer_or_fake_quant_ctr=activation_observer(scheme))
    config = dataclasses.replace(config, input_activation=observer, output_activation=observer)
    quantizer = ResidualAddQuantizer().set_global(config)
    model = source.fp32 if options["int8_io"] else ClampedIO(source.fp32)
    prepared = prepare_pt2e(torch.export.export(model, (source.example(),)).module(), quantizer)
    calibrate(prepared, source.calibration)
    return convert_pt2e(prepared, fold_quantize=False), quantizer


def _half_weights(model: nn.Module) -> nn.Module:
    """The float model with its weights rounded to float16: what an fp16-weight file computes."""
    import copy

    rounded = copy.deepcopy(model)
    with torch.no_grad():
        for parameter in rounded.parameters():
            parameter.copy_(parameter.half().float())
    return rounded


def _float16_weights(path: Path) -> bytes:
    """The file with conv weights stored as float16 (ai-edge-quantizer's float casting)."""
    from ai_edge_quantizer import qtyping, quantizer

    editor = quantizer.Quantizer(str(path))
    for operation in HALF_WEIGHT_OPS:
        editor.update_quantization_recipe(
            regex=".*", operation_name=getattr(qtyping.TFLOperationName, operation),
            algorithm_key=quantizer.AlgorithmName.FLOAT_CASTING,
            op_config=qtyping.OpQuantizationConfig(
                weight_tensor_config=qtyping.TensorQuantizationConfig(num_bits=16, dtype=qtyping.TensorDataType.FLOAT),
                compute_precision=qtyping.ComputePrecision.FLOAT, explicit_dequantize=True))
    return bytes(editor.quantize().quantized_model)


def run(path: Path, images: torch.Tensor, threads: int, options: dict) -> torch.Tensor:
    """Outputs for a batch (NCHW float in [0, 1] in and out, whatever the file's I/O)."""
    model, _ = interpreter(path, threads)
    return torch.cat([_invoke(model, image[None], options) for image in images])


def _invoke(model, image: torch.Tensor, options: dict) -> torch.Tensor:
    entry, exit_ = model.get_input_details()[0], model.get_output_details()[0]
    array = image.permute(0, 2, 3, 1).numpy() if options["nhwc"] else image.numpy()
    model.set_tensor(entry["index"], _to_tensor_type(array, entry))
    model.invoke()
    output = _from_tensor_type(model.get_tensor(exit_["index"]), exit_)
    output = torch.from_numpy(output)
    return output.permute(0, 3, 1, 2) if options["nhwc"] else output


def _to_tensor_type(array: np.ndarray, detail: dict) -> np.ndarray:
    if detail["dtype"] == np.float32:
        return array.astype(np.float32)
    scale, zero_point = detail["quantization"]
    info = np.iinfo(detail["dtype"])
    return np.clip(np.round(array / scale + zero_point), info.min, info.max).astype(detail["dtype"])


def _from_tensor_type(array: np.ndarray, detail: dict) -> np.ndarray:
    if detail["dtype"] == np.float32:
        return array.copy()
    scale, zero_point = detail["quantization"]
    return ((array.astype(np.float32) - zero_point) * scale).astype(np.float32)


def time(path: Path, image: torch.Tensor, threads: int, warmup: int, runs: int, options: dict) -> dict:
    """Latency across the shared boundary (measure/latency.py): see `prepare`."""
    timed = prepare(path, image, threads, options)
    return {**time_inference(timed.infer, timed.array, warmup, runs), "runtime": timed.runtime}


def prepare(path: Path, image: torch.Tensor, threads: int, options: dict) -> Timed:
    """The file's interpreter, loaded once, ready to time across the shared boundary (measure/latency.py):
    set_tensor() copies the input in, invoke(), get_tensor() copies the output out. The input is quantized
    and laid out before timing, as every runtime gets its input in its own dtype and layout."""
    model, runtime = interpreter(path, threads)
    entry, exit_ = model.get_input_details()[0], model.get_output_details()[0]
    array = image[None].permute(0, 2, 3, 1).numpy() if options["nhwc"] else image[None].numpy()

    def infer(tensor: np.ndarray) -> np.ndarray:
        model.set_tensor(entry["index"], tensor)
        model.invoke()
        return model.get_tensor(exit_["index"])

    return Timed(infer, _to_tensor_type(array, entry), runtime)


def inspect(path: Path) -> dict:
    """Op counts, the input shape, I/O dtypes, and the ops computing in float (none in a full-integer file)."""
    model, runtime = interpreter(path)
    ops: dict[str, int] = {}
    float_ops = set()
    tensors = {detail["index"]: detail for detail in model.get_tensor_details()}
    for op in model._get_ops_details():
        name = op["op_name"]
        if name == "DELEGATE":
            continue
        ops[name] = ops.get(name, 0) + 1
        outputs = [tensors[index]["dtype"] for index in op["outputs"] if index in tensors]
        if name not in EDGE_OPS and any(dtype == np.float32 for dtype in outputs):
            float_ops.add(name)
    return {"ops": ops, "float_compute_ops": sorted(float_ops), "runtime": runtime,
            "input_shape": [int(side) for side in model.get_input_details()[0]["shape"]],
            "input_dtype": np.dtype(model.get_input_details()[0]["dtype"]).name,
            "output_dtype": np.dtype(model.get_output_details()[0]["dtype"]).name}


def runnable_here(variant: str) -> None:
    """Its runtime is a dependency of stylectl: every machine runs these files."""
    return None


def structure_problems(variant: str, info: dict) -> list[str]:
    """Nothing beyond parity: every file is run and compared with its torch source."""
    return []
