"""The scheme matrix `quantize --compare` adds to the comparison: every scheme as the files of
the runtimes that can carry it, each file run by its runtime, all of them timed together, and
every ONNX file compiled and simulated by Qualcomm's QNN HTP backend.

Which files a scheme gets (under the quantize artifact's `compare/`):
- ONNX, every scheme. An int scheme is its PT2E simulation lowered to QDQ, at its own bits
  (16-bit activations as uint16, 4-bit weights as INT4: models/qdq_types.py); an fp16 scheme
  the student in half precision; the `fp32` row the float student.
- TFLite where a converter carries the scheme as defined: symmetric w8a8 PTQ schemes with
  litert-torch's quantizer (as export's int8 file: tflite.py), w8a16 PTQ schemes with
  ai-edge-quantizer's 16x8 recipe (tflite_16x8.py).
- Core ML for the 16-bit-activation schemes with per-channel symmetric weights, whose Apple
  counterpart is weights at those bits with fp16 activations: `int8_weights` for w8a16,
  `int4_weights` for w4a16 (coreml.py). Core ML runs only on Apple devices, so its quality is
  measured from the weights the package stores (read back by coremltools), loaded into the
  torch student and run in fp16, and it has no latency here.

Each file records its size, its runtime's output against the scheme's torch simulation on the
held-out photos (`parity_psnr`), and its latency: every file of every row in the same
alternating rounds, one thread, across measure/latency.py's boundary. QNN HTP reports where the
ONNX file's nodes run and the simulated NPU's PSNR against the fp32 student (`qnn`): int files
at their own bits, float files at the HTP's fp16 precision.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from stylectl.pipelines.artifacts import tree_bytes
from stylectl.pipelines.config import SchemeConfig
from stylectl.pipelines.export import qnn_htp
from stylectl.pipelines.export.formats import FORMATS
from stylectl.pipelines.export.source import ModelSource
from stylectl.pipelines.measure.latency import time_rounds
from stylectl.pipelines.measure.metrics import predict, psnr, ssim
from stylectl.pipelines.models.fold import fold_batchnorm
from stylectl.pipelines.models.to_onnx import HalfPrecision, export_onnx
from stylectl.pipelines.progress import Reporter
from stylectl.pipelines.quiet import converter_output_silenced

THREADS, WARMUP, RUNS, ROUNDS = 1, 3, 20, 3  # fixed so the numbers depend only on the quantize section
FOLDER = "compare"


def tflite_route(scheme: SchemeConfig) -> str | None:
    """How a scheme reaches TFLite: `int8` (litert-torch), `w8a16` (ai-edge-quantizer), or None."""
    if scheme.kind != "int" or scheme.method != "ptq" or scheme.keep_float or scheme.activations_16bit \
            or scheme.weight_bits != 8 or not scheme.weight_symmetric:
        return None
    return {8: "int8", 16: "w8a16"}.get(scheme.activation_bits)


def coreml_route(scheme: SchemeConfig) -> str | None:
    """The Core ML variant that stores a scheme's weights as it does, with fp16 activations, or None."""
    if scheme.kind != "int" or scheme.method != "ptq" or scheme.keep_float or scheme.activation_bits != 16 \
            or scheme.weight_granularity != "per_channel" or not scheme.weight_symmetric:
        return None
    return {8: "int8_weights", 4: "int4_weights"}[scheme.weight_bits]


def add_files(rows: list[dict], schemes: list[SchemeConfig], model: nn.Module, simulated: dict[str, nn.Module],
              calibration: list[torch.Tensor], heldout: torch.Tensor, folder: Path, size: int, opset: int,
              soc: str | None, tflite_options: dict, reporter: Reporter) -> None:
    """Write, run, simulate and time every row's files; each row gains `files` ({format: {file, bytes,
    parity_psnr, latency_ms, ...}} or a `note` saying why a file is missing) and, with a QNN `soc`
    (export.vendor_checks has qnn_htp), `qnn`."""
    (folder / FOLDER).mkdir(exist_ok=True)
    by_name = {scheme.name: scheme for scheme in schemes}
    with torch.no_grad():
        reference = predict(model.eval(), heldout)
    folded = fold_batchnorm(model)  # what every exporter converts
    timed = {}
    for row in rows:
        name, scheme = row["name"], by_name.get(row["name"])
        row["files"] = {}
        if name == "fp32" or name in simulated:
            source = model if name == "fp32" else simulated[name]
            _onnx(row, scheme, model, source, folder, size, opset, heldout, timed)
            if soc:
                _qnn(row, folder, heldout, reference, soc,
                     fp16=scheme is None or scheme.kind == "fp16" or scheme.activation_bits is None)
        elif "file" in row:  # the ONNX Runtime reference: written by the quantize stage
            row["files"]["onnx"] = _run(FORMATS["onnx"].load(), folder / row["file"], heldout, None, {}, timed,
                                        f"{name}/onnx")
            if soc:
                _qnn(row, folder, heldout, reference, soc, fp16=False)
        route = tflite_route(scheme) if scheme else "fp32" if name == "fp32" else None
        if route:
            _tflite(row, route, scheme, folded, simulated.get(name, model), calibration, folder, size, heldout,
                    tflite_options, timed)
        variant = coreml_route(scheme) if scheme else None
        if variant:
            _coreml(row, variant, folded, folder, size, heldout, reference)
        reporter.line(f"  {name}: " + ", ".join(f"{fmt} {_brief(entry)}" for fmt, entry in row["files"].items())
                      + (f"; QNN HTP {row['qnn']['status']}" if "qnn" in row else ""))
    reporter.line(f"  timing {len(timed)} files ({ROUNDS} alternating rounds of {RUNS} runs, {THREADS} thread)")
    latency = time_rounds(timed, WARMUP, RUNS, ROUNDS)
    for row in rows:
        for fmt, entry in row["files"].items():
            key = f"{row['name']}/{fmt}"
            if key in latency:
                entry.update(latency_ms=latency[key]["median_ms"], latency_min_ms=latency[key]["min_ms"],
                             latency_max_ms=latency[key]["max_ms"])


def _onnx(row: dict, scheme: SchemeConfig | None, model: nn.Module, source: nn.Module, folder: Path, size: int,
          opset: int, heldout: torch.Tensor, timed: dict) -> None:
    path = folder / FOLDER / f"{row['name']}.onnx"
    is_graph = isinstance(source, torch.fx.GraphModule)  # an fp16 scheme's simulation rounds in fp32
    with converter_output_silenced():
        export_onnx(source if is_graph or row["name"] == "fp32" else HalfPrecision(model), size, opset, path,
                    int4_weights=scheme is not None and scheme.kind == "int" and scheme.weight_bits == 4)
    row["files"]["onnx"] = _run(FORMATS["onnx"].load(), path, heldout, source, {}, timed, f"{row['name']}/onnx")


def _tflite(row: dict, route: str, scheme: SchemeConfig | None, model: nn.Module, simulation: nn.Module,
            calibration: list[torch.Tensor], folder: Path, size: int, heldout: torch.Tensor, options: dict,
            timed: dict) -> None:
    path = folder / FOLDER / f"{row['name']}.tflite"
    module = FORMATS["tflite"].load()
    try:
        with converter_output_silenced():
            if route == "w8a16":  # ai-edge-quantizer calibrates its own ranges: parity is against the PT2E w8a16
                from stylectl.pipelines.export.tflite_16x8 import write_w8a16

                write_w8a16(model, calibration, size, path)
                reference, options = simulation, {**options, "nhwc": False}
            else:  # litert-torch's quantizer re-applies the scheme: parity is against its own simulation
                source = ModelSource(model, size, scheme, calibration)
                reference = module.write(route, source, path, options, 0)
    except Exception as error:  # noqa: BLE001 - a converter's refusal is a cell, the other files still count
        row["files"]["tflite"] = {"note": f"not written: {type(error).__name__}: {str(error).splitlines()[0][:160]}"}
        return
    row["files"]["tflite"] = _run(module, path, heldout, reference, options, timed, f"{row['name']}/tflite")


def _coreml(row: dict, variant: str, model: nn.Module, folder: Path, size: int, heldout: torch.Tensor,
            reference: torch.Tensor) -> None:
    """The Core ML package (iOS18: int4 weights need it; every conv compressed, as in the simulation),
    scored from its stored weights in the torch student at fp16."""
    module = FORMATS["coreml"].load()
    path = folder / FOLDER / f"{row['name']}.mlpackage"
    options = FORMATS["coreml"].resolve({"variants": [variant], "minimum_deployment_target": "iOS18",
                                         "min_weight_elements": 0})
    try:
        with converter_output_silenced():
            module.write(variant, ModelSource(model, size), path, options, 0)
            stored = with_weights(model, module.decompressed_conv_weights(path))
    except Exception as error:  # noqa: BLE001 - a converter's refusal is a cell, the other files still count
        row["files"]["coreml"] = {"note": f"not written: {type(error).__name__}: {str(error).splitlines()[0][:160]}"}
        return
    with torch.no_grad():
        output = predict(HalfPrecision(stored), heldout)
    row["files"]["coreml"] = {"file": f"{FOLDER}/{path.name}", "variant": variant, "bytes": tree_bytes(path),
                              "psnr_vs_fp32": psnr(output, reference), "ssim_vs_fp32": ssim(output, reference),
                              "note": "not run (Core ML needs macOS): scored from its stored weights at fp16"}


def with_weights(model: nn.Module, stored: dict[str, np.ndarray]) -> nn.Module:
    """A copy of `model` with each conv's weight replaced by the stored weight it matches.

    Core ML names its convs after the traced graph, not the torch modules, so each conv takes the
    unused stored weight of its shape nearest to its own (relative error): two convs of one shape
    (the global context's two pooled-statistics convs) cannot be swapped by program order."""
    import copy

    copied, unused = copy.deepcopy(model), dict(stored)
    for name, conv in copied.named_modules():
        if not isinstance(conv, nn.Conv2d):
            continue
        weight = conv.weight.detach()
        candidates = {key: torch.from_numpy(value) for key, value in unused.items() if value.shape == tuple(weight.shape)}
        if not candidates:
            raise ValueError(f"no stored weight of shape {tuple(weight.shape)} for conv {name}")
        key = min(candidates, key=lambda key: float((candidates[key] - weight).norm() / (weight.norm() + 1e-12)))
        with torch.no_grad():
            conv.weight.copy_(candidates[key])
        del unused[key]
    return copied


def _run(module, path: Path, heldout: torch.Tensor, simulation: nn.Module | None, options: dict, timed: dict,
         key: str) -> dict:
    """The file's size and parity with its simulation; queued for timing when its runtime loads it."""
    entry = {"file": f"{FOLDER}/{path.name}" if path.parent.name == FOLDER else path.name,
             "bytes": path.stat().st_size}
    try:
        output = module.run(path, heldout, THREADS, options)
        timed[key] = module.prepare(path, heldout[0], THREADS, options).call
    except Exception as error:  # noqa: BLE001 - e.g. a runtime without kernels for the file's types
        return {**entry, "note": f"its runtime cannot run it: {str(error).splitlines()[0][:160]}"}
    if simulation is not None:
        with torch.no_grad():
            entry["parity_psnr"] = psnr(output, predict(simulation, heldout))
    return entry


def _qnn(row: dict, folder: Path, heldout: torch.Tensor, reference: torch.Tensor, soc: str, fp16: bool) -> None:
    """QNN HTP's verdict on the row's ONNX file and its simulated output against the fp32 student
    (`fp16`: a float file, run at the HTP's fp16 precision)."""
    entry = row["files"]["onnx"]
    with converter_output_silenced():  # QNN's native libraries print to stdout, which --json reserves
        verdict, output = qnn_htp.simulate(folder / entry["file"], fp16, heldout, soc)
    if output is not None:
        verdict.update(psnr_vs_fp32=psnr(output, reference), ssim_vs_fp32=ssim(output, reference))
    row["qnn"] = verdict


def _brief(entry: dict) -> str:
    if "bytes" not in entry:
        return "(" + entry["note"] + ")"
    if "psnr_vs_fp32" in entry:  # Core ML: scored from its stored weights
        return f"{entry['bytes'] / 1e3:.0f} KB, {entry['psnr_vs_fp32']:.1f} dB vs fp32 from its stored weights"
    parity = entry.get("parity_psnr")
    return f"{entry['bytes'] / 1e3:.0f} KB" + (f", {parity:.1f} dB vs its simulation" if parity is not None else "")
