"""The quickstart's figures over seeds, and its shipped file's speed against its teacher (issue 33).

Builds (or reuses) the quickstart's whole chain with seeds 0, 1 and 2 (seed 0 is `make run`'s own
build, `checkpoints/quickstart`; the others are `quickstart-seed<N>`), then:
- quality: every evaluated row's PSNR / SSIM against that build's teacher on the held-out photos
  at 256x256, and the style and content distances, from each build's evaluate manifest; mean and
  range over the seeds;
- speed: seed 0's shipped int8 TFLite file against its teacher's fp32 ONNX file (evaluate's
  `teacher_fp32.onnx`), 1 thread, 256x256, each file's median of RUNS runs after WARMUP, in
  ROUNDS alternating rounds (the same timing boundary for both: measure/latency.py); the
  speed-up is the median of the per-round ratios, with their range.

Usage: .venv/bin/python benchmarks/quickstart_bar.py [--seeds 0,1,2]
Writes benchmarks/RESULTS-quickstart.md.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

import torch

from stylectl.pipelines.config_loader import load_config
from stylectl.pipelines.export import onnx as onnx_format
from stylectl.pipelines.export import tflite as tflite_format
from stylectl.pipelines.measure.latency import BOUNDARY
from stylectl.pipelines.progress import PlainReporter
from stylectl.pipelines.report.cells import machine
from stylectl.pipelines.runner import plan_chain, run_stages

from results import publish

HERE = Path(__file__).parent
CONFIG = HERE.parent / "configs" / "quickstart.yaml"
ROUNDS, RUNS, WARMUP = 7, 20, 5
ROWS = ("teacher", "student", "pruned student", "int8 student (sim)", "student int8 (tflite)", "student int8 (onnx)",
        "student int8 (pte)")


def build(seed: int, checkpoints: Path) -> dict:
    name = "quickstart" if seed == 0 else f"quickstart-seed{seed}"
    config = load_config(CONFIG, [f"name={name}", f"seed={seed}"])
    outcomes = run_stages(config, plan_chain(None, None, None), checkpoints, PlainReporter())
    return {outcome.stage: outcome.artifact for outcome in outcomes}


def speed(evaluate_folder: Path, export_folder: Path, size: int) -> dict[str, list[float]]:
    image = torch.rand(3, size, size)
    files = {"teacher fp32 (onnx)": (onnx_format, evaluate_folder / "teacher_fp32.onnx", {}),
             "student int8 (tflite)": (tflite_format, export_folder / "student_int8.tflite",
                                       {"nhwc": False, "int8_io": True})}
    medians = {name: [] for name in files}
    for round_index in range(ROUNDS):
        for name, (module, path, options) in files.items():
            medians[name].append(module.time(path, image, 1, WARMUP, RUNS, options)["median_ms"])
        print(f"round {round_index + 1}/{ROUNDS}", file=sys.stderr)
    return medians


def _mean_range(values: list[float], digits: int) -> str:
    return f"{statistics.mean(values):.{digits}f} ({min(values):.{digits}f}-{max(values):.{digits}f})"


def markdown(seeds: list[int], builds: dict[int, dict], medians: dict[str, list[float]], size: int) -> str:
    info = machine()
    by_seed = {seed: {row["artifact"]: row for row in artifacts["evaluate"].metrics["rows"]}
               for seed, artifacts in builds.items()}
    lines = ["# The quickstart over seeds, and its shipped file against its teacher (issue 33)", "",
             f"Command: `.venv/bin/python benchmarks/quickstart_bar.py --seeds {','.join(map(str, seeds))}` "
             "(configs/quickstart.yaml; seed 0 is `make run`'s build)",
             f"Machine: {info['cpu']}, {info['cores']} cores, no GPU.", "",
             f"## Quality against the teacher: mean (min-max) over seeds {', '.join(map(str, seeds))}", "",
             "Held-out photos (3) at 256x256. Style distance: Gram distance to the painting; content distance: "
             "to the photo (evaluate's layers; lower is closer).", "",
             "| artifact | PSNR dB | SSIM | style distance | content distance |", "|---|---|---|---|---|"]
    for artifact in ROWS:
        rows = [by_seed[seed][artifact] for seed in seeds if artifact in by_seed[seed]]
        if not rows or rows[0].get("psnr_vs_teacher") is None:
            continue
        psnr = [row["psnr_vs_teacher"] for row in rows]
        psnr_text = "inf" if artifact == "teacher" else _mean_range(psnr, 2)
        lines.append(f"| {artifact} | {psnr_text} | {_mean_range([r['ssim_vs_teacher'] for r in rows], 3)} | "
                     f"{_mean_range([r['style_distance'] for r in rows], 0)} | "
                     f"{_mean_range([r['content_distance'] for r in rows], 0)} |")
    teacher, student = medians["teacher fp32 (onnx)"], medians["student int8 (tflite)"]
    ratios = [t / s for t, s in zip(teacher, student)]
    lines += ["", "## Speed: seed 0's shipped file against its teacher", "",
              f"1 thread, {size}x{size}, {ROUNDS} alternating rounds of {RUNS} runs after {WARMUP} warm-up; "
              f"boundary: {BOUNDARY}.", "",
              "| file | median ms (min-max over rounds) |", "|---|---|",
              f"| teacher fp32 (onnx) | {statistics.median(teacher):.2f} ({min(teacher):.2f}-{max(teacher):.2f}) |",
              f"| student int8 (tflite) | {statistics.median(student):.2f} ({min(student):.2f}-{max(student):.2f}) |",
              "", f"Speed-up of the int8 TFLite file over the teacher's fp32 ONNX file: median of the per-round "
              f"ratios {statistics.median(ratios):.1f}x (range {min(ratios):.1f}x-{max(ratios):.1f}x).", ""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--checkpoints", type=Path, default=Path("checkpoints"))
    args = parser.parse_args()
    seeds = [int(seed) for seed in args.seeds.split(",")]
    builds = {seed: build(seed, args.checkpoints) for seed in seeds}
    first = builds[seeds[0]]
    size = load_config(CONFIG).data.eval_size
    medians = speed(first["evaluate"].folder, first["export"].folder, size)
    publish(markdown(seeds, builds, medians, size), HERE / "RESULTS-quickstart.md")


if __name__ == "__main__":
    main()
