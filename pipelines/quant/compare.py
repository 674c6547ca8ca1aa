"""The scheme comparison: weight storage, a table and a Pareto plot (with `--compare`, the
files, latencies and QNN HTP simulation that export/scheme_matrix.py adds to each row)."""

from __future__ import annotations

from pathlib import Path

from torch import nn

from stylectl.pipelines import artifacts
from stylectl.pipelines.config import SchemeConfig
from stylectl.pipelines.figures import figure_png, pareto_front, pyplot
from stylectl.pipelines.readers import COMPARISON_PLOT, COMPARISON_TABLE


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


def write(rows: list[dict], folder: Path, with_latency: bool) -> None:
    """comparison.md always; comparison.png when there is more than one scheme to compare."""
    artifacts.write_atomic(folder / COMPARISON_TABLE, _markdown(rows, with_latency).encode())
    if len(rows) > 2:
        artifacts.write_atomic(folder / COMPARISON_PLOT, _plot(rows, with_latency))


def _markdown(rows: list[dict], with_latency: bool) -> str:
    header = "| scheme | PSNR vs fp32 | SSIM vs fp32 | PSNR vs teacher | SSIM vs teacher | weights |"
    rule = "|---|---|---|---|---|---|"
    if with_latency:
        header += (" ONNX file | ORT ms (1 thread) | TFLite file | TFLite ms (1 thread) | QNN HTP | QNN-sim PSNR vs fp32 |"
                   " Core ML file (fp16 activations) |")
        rule += "---|---|---|---|---|---|---|"
    lines = [header, rule]
    for row in rows:
        vs_fp32 = "-" if row["name"] == "fp32" else f"{row['psnr_vs_fp32']:.2f} dB"
        ssim_fp32 = "-" if row["name"] == "fp32" else f"{row['ssim_vs_fp32']:.4f}"
        cells = [f"**{row['name']}**: {row['description']}", vs_fp32, ssim_fp32,
                 f"{row['psnr_vs_teacher']:.2f} dB", f"{row['ssim_vs_teacher']:.3f}", f"{row['weight_bytes'] / 1e3:.1f} KB"]
        if with_latency:
            files = row.get("files", {})
            for fmt in ("onnx", "tflite"):
                cells += _file_cells(files.get(fmt))
            cells += _qnn_cells(row.get("qnn"))
            cells.append(_coreml_cell(files.get("coreml")))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _file_cells(entry: dict | None) -> list[str]:
    """The file's size and parity with its torch simulation, and its latency (median, min-max over rounds)."""
    if entry is None:
        return ["-", "-"]
    if "note" in entry and "bytes" not in entry:
        return [entry["note"], "-"]
    parity = entry.get("parity_psnr")
    described = f"{entry['bytes'] / 1e3:.0f} KB" + (f", {parity:.1f} dB vs sim" if parity is not None else "")
    if entry.get("latency_ms") is None:
        return [described, f"n/a ({entry['note']})" if "note" in entry else "-"]
    return [described, f"{entry['latency_ms']:.2f} ({entry['latency_min_ms']:.2f}-{entry['latency_max_ms']:.2f})"]


def _coreml_cell(entry: dict | None) -> str:
    """Core ML runs only on Apple devices: the package's size and the quality of its stored weights."""
    if entry is None:
        return "-"
    if "bytes" not in entry:
        return entry["note"]
    return (f"{entry['variant']}, {entry['bytes'] / 1e3:.0f} KB, {entry['psnr_vs_fp32']:.2f} dB vs fp32 "
            "(stored weights, torch fp16)")


def _qnn_cells(verdict: dict | None) -> list[str]:
    if verdict is None:
        return ["-", "-"]
    if verdict["status"] in ("not run", "failed"):
        return [f"{verdict['status']} ({verdict.get('reason', '')})", "-"]
    placed = f"{verdict['status']}, {verdict['compute_nodes_qnn']} nodes on the NPU" + (
        f", {verdict['compute_nodes_cpu']} on the CPU" if verdict.get("compute_nodes_cpu") else "")
    return [placed, f"{verdict['psnr_vs_fp32']:.2f} dB" if "psnr_vs_fp32" in verdict else "-"]


def _plot(rows: list[dict], with_latency: bool) -> bytes:
    plt = pyplot()

    schemes = [row for row in rows if row["name"] != "fp32"]
    panels = [(lambda row: row["weight_bytes"] / 1e3, "weights (KB)", "psnr_vs_fp32", "PSNR vs fp32 student (dB), simulation")]
    if with_latency:
        panels += [(lambda row: row["weight_bytes"] / 1e3, "weights (KB)", "qnn_psnr",
                    "QNN HTP simulated PSNR vs fp32 student (dB)"),
                   (lambda row: row.get("files", {}).get("onnx", {}).get("latency_ms"), "onnxruntime latency, 1 thread (ms)",
                    "psnr_vs_fp32", "PSNR vs fp32 student (dB), simulation")]
    figure, axes = plt.subplots(1, len(panels), figsize=(6 * len(panels), 4.5), squeeze=False)
    for axis, (cost_of, cost_label, quality_key, quality_label) in zip(axes[0], panels):
        points = []
        for row in schemes:
            quality = row.get("qnn", {}).get("psnr_vs_fp32") if quality_key == "qnn_psnr" else row[quality_key]
            cost = cost_of(row)
            if cost is None or quality is None or quality == float("inf"):
                continue
            points.append((row["name"], cost, quality))
            axis.scatter(cost, quality, color="tab:blue")
            axis.annotate(row["name"], (cost, quality), textcoords="offset points", xytext=(4, 4), fontsize=8)
        front = sorted((cost, quality) for name, cost, quality in points if name in set(pareto_front(points)))
        if len(front) > 1:
            axis.step([cost for cost, _ in front], [quality for _, quality in front], where="post", color="tab:orange",
                      alpha=0.6, label="Pareto front")
            axis.legend(loc="lower right", fontsize=8)
        axis.set_xlabel(cost_label)
        axis.set_ylabel(quality_label)
        axis.grid(alpha=0.3)
    figure.tight_layout()
    return figure_png(figure, dpi=110)
