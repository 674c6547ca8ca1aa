"""The scheme comparison: weight storage, optional onnxruntime latency, a table and a plot."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from stylectl.pipelines import artifacts
from stylectl.pipelines.config import SchemeConfig
from stylectl.pipelines.figures import figure_png, pyplot
from stylectl.pipelines.measure.latency import compare_onnx
from stylectl.pipelines.models.to_onnx import HalfPrecision, export_onnx
from stylectl.pipelines.progress import Reporter
from stylectl.pipelines.readers import COMPARISON_PLOT, COMPARISON_TABLE

THREADS, WARMUP, RUNS, ROUNDS = 1, 3, 20, 3  # fixed so the numbers depend only on the quantize section


def weight_bytes(model: nn.Module, scheme: SchemeConfig | None, bits: int | None = None) -> int:
    """Bytes of conv weights (BatchNorm folded: one 32-bit bias per output channel) under a scheme.

    Layers the scheme keeps in float count 4 bytes a weight; int4 counts half a byte (its
    packed size: PT2E and ONNX store it in int8 containers, TFLite and Core ML pack it).
    """
    if scheme is not None:
        bits = 16 if scheme.kind == "fp16" else scheme.weight_bits
    total = 0.0
    for name, module in model.named_modules():
        if isinstance(module, nn.Conv2d):
            floating = scheme is not None and any(name == p or name.startswith(p + ".") for p in scheme.keep_float)
            layer_bits = 32 if bits is None or floating else bits
            total += module.weight.numel() * layer_bits / 8 + module.out_channels * 4
    return int(total)


def time_rows(rows: list[dict], model: nn.Module, simulated: dict[str, nn.Module], folder: Path, size: int,
              opset: int, reporter: Reporter) -> None:
    """Export every row's model to ONNX under `folder/compare` and add its median latency (ms).

    A scheme onnxruntime cannot load (the exporter's int16 QuantizeLinear graph is invalid
    for it) gets no latency and a `latency_note` saying why.
    """
    files = {"fp32": folder / "compare" / "fp32.onnx"}
    files["fp32"].parent.mkdir(exist_ok=True)
    export_onnx(model, size, opset, files["fp32"])
    notes = {}
    for row in rows:
        name = row["name"]
        if name in simulated:
            path = folder / "compare" / f"{name}.onnx"
            # an fp16 scheme's simulation rounds in fp32; its file is the model in half precision
            is_graph = isinstance(simulated[name], torch.fx.GraphModule)
            export_onnx(simulated[name] if is_graph else HalfPrecision(model), size, opset, path)
            notes[name] = _unloadable(path)
            if notes[name] is None:
                files[name] = path
        elif "file" in row:
            files[name] = folder / row["file"]
    reporter.line(f"  timing {len(files)} ONNX files ({ROUNDS} alternating rounds of {RUNS} runs)")
    latency = compare_onnx(files, torch.rand(3, size, size), THREADS, WARMUP, RUNS, ROUNDS)
    for row in rows:
        row["latency_ms"] = latency.get(row["name"])
        if notes.get(row["name"]):
            row["latency_note"] = notes[row["name"]]
        if row["name"] in files:
            row["onnx_bytes"] = files[row["name"]].stat().st_size


def _unloadable(path: Path) -> str | None:
    """Why onnxruntime refuses the file (its first line), or None when it loads."""
    import onnxruntime

    try:
        onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    except Exception as error:  # onnxruntime raises several pybind error types
        message = str(error).splitlines()[0]
        return f"onnxruntime cannot load it: {message.split('failed:', 1)[-1].strip()[:160]}"
    return None


def write(rows: list[dict], folder: Path, with_latency: bool) -> None:
    """comparison.md always; comparison.png when there is more than one scheme to compare."""
    artifacts.write_atomic(folder / COMPARISON_TABLE, _markdown(rows, with_latency).encode())
    if len(rows) > 2:
        artifacts.write_atomic(folder / COMPARISON_PLOT, _plot(rows, with_latency))


def _markdown(rows: list[dict], with_latency: bool) -> str:
    header = "| scheme | PSNR vs fp32 | SSIM vs fp32 | PSNR vs teacher | SSIM vs teacher | weights |"
    rule = "|---|---|---|---|---|---|"
    if with_latency:
        header, rule = header + " ORT latency (1 thread) |", rule + "---|"
    lines = [header, rule]
    for row in rows:
        vs_fp32 = "-" if row["name"] == "fp32" else f"{row['psnr_vs_fp32']:.2f} dB"
        ssim_fp32 = "-" if row["name"] == "fp32" else f"{row['ssim_vs_fp32']:.4f}"
        cells = [f"**{row['name']}**: {row['description']}", vs_fp32, ssim_fp32,
                 f"{row['psnr_vs_teacher']:.2f} dB", f"{row['ssim_vs_teacher']:.3f}", f"{row['weight_bytes'] / 1e3:.1f} KB"]
        if with_latency:
            cells.append(f"n/a ({row['latency_note']})" if row.get("latency_ms") is None and row.get("latency_note")
                         else "-" if row.get("latency_ms") is None else f"{row['latency_ms']:.2f} ms")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _plot(rows: list[dict], with_latency: bool) -> bytes:
    plt = pyplot()

    schemes = [row for row in rows if row["name"] != "fp32"]
    panels = [("weight_bytes", "weights (KB)", 1e3)] + ([("latency_ms", "onnxruntime latency, 1 thread (ms)", 1)]
                                                      if with_latency else [])
    figure, axes = plt.subplots(1, len(panels), figsize=(6 * len(panels), 4.5), squeeze=False)
    for axis, (key, label, scale) in zip(axes[0], panels):
        for row in schemes:
            if row.get(key) is None:
                continue
            axis.scatter(row[key] / scale, row["psnr_vs_fp32"])
            axis.annotate(row["name"], (row[key] / scale, row["psnr_vs_fp32"]), textcoords="offset points",
                          xytext=(4, 4), fontsize=8)
        axis.set_xlabel(label)
        axis.set_ylabel("PSNR vs fp32 student (dB), held-out photos")
        axis.grid(alpha=0.3)
    figure.tight_layout()
    return figure_png(figure, dpi=110)
