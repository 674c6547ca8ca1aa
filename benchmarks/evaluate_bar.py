"""Issue 8's benchmark, in one run: the built student's files against the classic teacher, and
our int8 scheme against ONNX Runtime's quantize_static, as one table of ratios.

Builds (or reuses) the whole chain of a config (default: the quickstart), then times, in
this process and in alternating rounds so machine drift hits every file alike:
- the classic fast-neural-style teacher (width 32, 5 residual blocks, instance norm) as
  fp32 ONNX at the build's evaluation size (its weights do not change its speed);
- the student's fp32 ONNX, int8 ONNX (our shipped PT2E scheme), fp32 TFLite, int8 TFLite, and fp32
  and int8 ExecuTorch programs (XNNPACK), each through its format's `time` (one latency boundary:
  NumPy input in, NumPy output out, measure/latency.py);
- ONNX Runtime's quantize_static file of the same student (the quantize stage's reference).
Then each exported file's parity against its torch source (from the export manifest), and the QNN
HTP compile check (issue 19): the export stage's verdict on each ONNX file, and
the same check on the quantize_static file, so both int8 files are judged by Qualcomm's compiler.
Quality (PSNR vs the teacher the student learned from, held-out photos) comes from the
evaluate and quantize stages' manifests.

Usage: .venv/bin/python benchmarks/evaluate_bar.py [--config configs/quickstart.yaml]
Writes benchmarks/RESULTS.md.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
from pathlib import Path

import torch

from stylectl.pipelines.export import executorch as pte_format
from stylectl.pipelines.export import onnx as onnx_format
from stylectl.pipelines.export import tflite as tflite_format
from stylectl.pipelines.measure.latency import BOUNDARY
from stylectl.pipelines.models.cost import count_macs
from stylectl.pipelines.models.teacher import TransformerNet
from stylectl.pipelines.models.to_onnx import export_onnx
from stylectl.pipelines.readers import exported_file, load_student, ort_reference
from stylectl.pipelines.report.cells import machine

from results import built_chain, publish

ROUNDS, RUNS, WARMUP, THREADS = 5, 20, 5, 1
HERE = Path(__file__).parent


def main() -> None:
    args, config, outcomes = built_chain(__doc__.splitlines()[0])
    size, export = config.data.eval_size, outcomes["export"]
    image = torch.rand(3, size, size)
    classic = TransformerNet(width=32, res_blocks=5, norm="instance").eval()
    student = load_student(outcomes["prune"]).eval()
    with tempfile.TemporaryDirectory() as scratch:
        export_onnx(classic, size, config.export.opset, Path(scratch) / "classic.onnx")
        files = {"classic teacher fp32 (onnx)": (onnx_format, Path(scratch) / "classic.onnx", {}),
                 "student fp32 (onnx)": (onnx_format, exported_file(export, "fp32", "onnx"), {}),
                 "student int8 (onnx, our scheme)": (onnx_format, exported_file(export, "int8", "onnx"), {}),
                 "student int8 (onnx, ORT quantize_static)": (onnx_format, ort_reference(outcomes["quantize"]), {}),
                 "student fp32 (tflite)": (tflite_format, exported_file(export, "fp32", "tflite"), {"nhwc": False}),
                 "student int8 (tflite)": (tflite_format, exported_file(export, "int8", "tflite"), {"nhwc": False}),
                 "student fp32 (pte)": (pte_format, exported_file(export, "fp32", "pte"), {}),
                 "student int8 (pte)": (pte_format, exported_file(export, "int8", "pte"), {})}
        medians = {name: [] for name in files}
        for round_index in range(ROUNDS):
            for name, (module, path, options) in files.items():
                medians[name].append(module.time(path, image, THREADS, WARMUP, RUNS, options)["median_ms"])
            print(f"round {round_index + 1}/{ROUNDS} done", file=sys.stderr)
    latency = {name: statistics.median(values) for name, values in medians.items()}
    text = _table(config, outcomes, latency, count_macs(classic, size), count_macs(student, size), args)
    publish(text + _parity_table(outcomes) + _qnn_table(config, outcomes), HERE / "RESULTS.md")


def _parity_table(outcomes) -> str:
    """The export stage's parity of every file that ran here, against the torch model it must reproduce."""
    lines = ["## Parity (issue 19)", "",
             "Each exported file's output on the held-out photos against its torch source, as the export stage "
             "measured it (fp32 files: the fp32 student; int8 files: the PT2E simulation their own runtime's "
             "quantizer built from the shipped scheme).", "", "| file | parity PSNR | max abs error |", "|---|---|---|"]
    lines += [f"| {row['file']} | {row['parity_psnr']:.2f} dB | {row['parity_max_abs']:.4f} |"
              for row in outcomes["export"].metrics["rows"] if row.get("parity_psnr") is not None]
    return "\n".join(lines) + "\n\n"


def _qnn_table(config, outcomes) -> str:
    """Qualcomm's compiler on every ONNX file of the build, and on ORT's quantize_static file."""
    from stylectl.pipelines.data import eval_batch
    from stylectl.pipelines.export import qnn_htp
    from stylectl.pipelines.export.preflight import vendor_line

    checks = {row["file"]: row["vendor"]["qnn_htp"] for row in outcomes["export"].metrics["rows"]
              if row.get("vendor", {}).get("qnn_htp")}
    heldout = eval_batch(config.data.image_set().heldout, config.data.eval_size)
    reference = ort_reference(outcomes["quantize"])
    checks[f"{reference.name} (quantize_static)"] = qnn_htp.check(reference, "int8", heldout, config.export.qnn_soc)
    lines = ["## QNN HTP compile check (issue 19)", "",
             "Each ONNX file through onnxruntime's QNN execution provider on the HTP backend of onnxruntime-qnn "
             "(Qualcomm's Hexagon NPU compiler and an x86 simulation of the NPU); PSNR of the simulated NPU's "
             "output against onnxruntime's CPU provider on the held-out photos.", "",
             "| file | verdict |", "|---|---|"]
    lines += [f"| {name} | {vendor_line(check)} |" for name, check in checks.items()]
    return "\n".join(lines) + "\n"


def _table(config, outcomes, latency: dict, classic_macs: int, student_macs: int, args) -> str:
    rows = {row["artifact"]: row for row in outcomes["evaluate"].metrics["rows"]}
    schemes = {row["name"]: row for row in outcomes["quantize"].metrics["schemes"]}
    ship = config.quantize.shipped().name
    teacher_ms = latency["classic teacher fp32 (onnx)"]
    info = machine()
    lines = [
        "# Benchmark: built student vs classic teacher, our int8 vs ONNX Runtime's (issue 8)",
        "",
        f"Command: `.venv/bin/python benchmarks/evaluate_bar.py --config {args.config}`",
        f"Machine: {info['cpu']}, {info['cores']} cores. Build `{config.name}` at {config.data.eval_size}x"
        f"{config.data.eval_size}. Latency: {THREADS} thread, median of {ROUNDS} alternating rounds, each the "
        f"median of {RUNS} runs after {WARMUP} warm-up; one timed call: {BOUNDARY}. PSNR: against the build's "
        "teacher on held-out photos.",
        "",
        "| file | latency | vs classic TransformerNet | PSNR vs teacher |",
        "|---|---|---|---|",
    ]
    quality = {"student fp32 (onnx)": rows.get("student fp32 (onnx)"), "student int8 (onnx, our scheme)":
               rows.get("student int8 (onnx)"), "student fp32 (tflite)": rows.get("student fp32 (tflite)"),
               "student int8 (tflite)": rows.get("student int8 (tflite)"),
               "student fp32 (pte)": rows.get("student fp32 (pte)"),
               "student int8 (pte)": rows.get("student int8 (pte)")}
    for name, value in latency.items():
        psnr = quality.get(name, {}) or {}
        if name.endswith("quantize_static)"):
            psnr = {"psnr_vs_teacher": schemes["ort_reference"]["psnr_vs_teacher"]}
        cell = f"{psnr['psnr_vs_teacher']:.2f} dB" if psnr.get("psnr_vs_teacher") is not None else "-"
        lines.append(f"| {name} | {value:.2f} ms | {teacher_ms / value:.1f}x | {cell} |")
    ours, reference = schemes[ship], schemes["ort_reference"]
    lines += [
        "",
        "| ratio | value |",
        "|---|---|",
        f"| MACs: classic teacher / student | {classic_macs / student_macs:.1f}x ({classic_macs / 1e9:.2f} G vs "
        f"{student_macs / 1e6:.0f} M) |",
        f"| latency: int8 TFLite / fp32 TFLite | {latency['student fp32 (tflite)'] / latency['student int8 (tflite)']:.2f}x "
        "faster |",
        f"| latency: int8 .pte / fp32 .pte | {latency['student fp32 (pte)'] / latency['student int8 (pte)']:.2f}x "
        "faster |",
        f"| latency: int8 .pte / int8 TFLite | {latency['student int8 (tflite)'] / latency['student int8 (pte)']:.2f}x "
        "(>1: .pte faster) |",
        f"| latency: our int8 ONNX / ORT quantize_static ONNX | "
        f"{latency['student int8 (onnx, ORT quantize_static)'] / latency['student int8 (onnx, our scheme)']:.2f}x "
        "(>1: ours faster) |",
        f"| PSNR vs fp32 student: our `{ship}` / ORT reference | {ours['psnr_vs_fp32']:.2f} dB / "
        f"{reference['psnr_vs_fp32']:.2f} dB |",
        f"| PSNR vs teacher: our `{ship}` / ORT reference / fp32 student | {ours['psnr_vs_teacher']:.2f} / "
        f"{reference['psnr_vs_teacher']:.2f} / {schemes['fp32']['psnr_vs_teacher']:.2f} dB |",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
