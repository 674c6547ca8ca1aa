"""Student size against the two quickstart bars at once: fidelity to the teacher and speed over it.

A narrower student runs faster and copies its teacher less closely. For each `--widths` value this
builds the quickstart with `student.width` set (same teacher recipe, seed, distillation length,
pruning and int8 scheme; only the int8 TFLite file exported), reads the shipped int8 TFLite file's
PSNR / SSIM against the teacher from evaluate (3 held-out photos, 256x256), then times every
width's int8 TFLite file and the teacher's fp32 ONNX file together, loaded once, in alternating
rounds on one thread (measure/latency.py's `time_rounds`, evaluate's boundary). Speed-ups are the
median and range of the per-round ratios against the teacher.

Usage: .venv/bin/python benchmarks/student_size.py [--widths 0.5,0.75,1.0]
Writes benchmarks/RESULTS-student-size.md.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from stylectl.pipelines.config.loading import load_config
from stylectl.pipelines.export import onnx as onnx_format
from stylectl.pipelines.export import tflite as tflite_format
from stylectl.pipelines.measure.latency import BOUNDARY, busy_warning, round_ratios, time_rounds
from stylectl.pipelines.progress import PlainReporter
from stylectl.pipelines.readers import evaluated_teacher_onnx, exported_file
from stylectl.pipelines.report.cells import machine
from stylectl.pipelines.runner import plan_chain, run_stages

from results import publish

HERE = Path(__file__).parent
CONFIG = HERE.parent / "configs" / "quickstart.yaml"
ROUNDS, RUNS, WARMUP = 7, 20, 5
SHIPPED = "student int8 (tflite)"
ONLY_INT8_TFLITE = ["export.formats={tflite: {variants: [int8], nhwc: false, int8_io: true}}",
                    "quantize.compare=false", "quantize.schemes=[{name: int8}]"]


def build(width: float, checkpoints: Path) -> dict:
    config = load_config(CONFIG, [f"name=student-size-w{width}", f"student.width={width}", *ONLY_INT8_TFLITE])
    return {o.stage: o.artifact for o in run_stages(config, plan_chain(None, None, None), checkpoints, PlainReporter())}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--widths", default="0.5,0.75,1.0")
    parser.add_argument("--checkpoints", type=Path, default=Path("checkpoints"))
    args = parser.parse_args()
    widths = [float(width) for width in args.widths.split(",")]
    builds = {width: build(width, args.checkpoints) for width in widths}
    size = load_config(CONFIG).data.eval_size
    image = torch.rand(3, size, size)
    teacher = onnx_format.prepare(evaluated_teacher_onnx(builds[widths[-1]]["evaluate"]), image, 1, {})
    files = {"teacher fp32 (onnx)": teacher.call}
    for width in widths:
        files[f"width {width}"] = tflite_format.prepare(exported_file(builds[width]["export"], "int8", "tflite"), image,
                                                        1, {"nhwc": False, "int8_io": True}).call
    timings = time_rounds(files, WARMUP, RUNS, ROUNDS, on_round=lambda done: print(f"round {done}/{ROUNDS}", file=sys.stderr))
    ratios = round_ratios(timings, "teacher fp32 (onnx)")
    warning = busy_warning({name: timing["spread"] for name, timing in timings.items()})
    info = machine()
    lines = ["# Student size: fidelity to the teacher against speed over it", "",
             f"Command: `.venv/bin/python benchmarks/student_size.py --widths {args.widths}` (configs/quickstart.yaml "
             "with `student.width` set; only the int8 TFLite file exported)",
             f"Machine: {info['cpu']}, {info['cores']} cores, no GPU. One build per width, seed 0.", "",
             f"Quality: the shipped int8 TFLite file against the teacher on the 3 held-out photos at {size}x{size} "
             f"(evaluate). Speed: 1 thread, {WARMUP} warm-up runs of each file, then {ROUNDS} alternating rounds of "
             f"{RUNS} runs of each; boundary: {BOUNDARY}.", "",
             *([f"**{warning}**", ""] if warning else []),
             "| student width | MMACs (pruned) | int8 TFLite PSNR dB | SSIM | median ms (min-max over rounds) | "
             "vs teacher (range) |", "|---|---|---|---|---|---|",
             f"| teacher fp32 (onnx) | - | - | - | {timings['teacher fp32 (onnx)']['median_ms']:.2f} "
             f"({timings['teacher fp32 (onnx)']['min_ms']:.2f}-{timings['teacher fp32 (onnx)']['max_ms']:.2f}) | 1x |"]
    for width in widths:
        rows = {row["artifact"]: row for row in builds[width]["evaluate"].metrics["rows"]}
        shipped, timing, ratio = rows[SHIPPED], timings[f"width {width}"], ratios[f"width {width}"]
        lines.append(f"| {width} | {shipped['mmacs']:.0f} | {shipped['psnr_vs_teacher']:.2f} | "
                     f"{shipped['ssim_vs_teacher']:.3f} | {timing['median_ms']:.2f} ({timing['min_ms']:.2f}-"
                     f"{timing['max_ms']:.2f}) | {ratio['median']:.1f}x ({ratio['min']:.1f}x-{ratio['max']:.1f}x) |")
    publish("\n".join(lines) + "\n", HERE / "RESULTS-student-size.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
