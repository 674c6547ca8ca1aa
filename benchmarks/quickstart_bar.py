"""The quickstart's figures over seeds, and its shipped file's speed against its teacher (issue 33).

Builds (or reuses) the quickstart's whole chain with seeds 0, 1 and 2 (seed 0 is `make run`'s own
build, `checkpoints/quickstart`; the others are `quickstart-seed<N>`), then:
- quality: every evaluated row's PSNR / SSIM against that build's teacher on the held-out photos
  at 256x256, and the style and content distances, from each build's evaluate manifest; mean and
  range over the seeds;
- speed: seed 0's shipped int8 TFLite file against its teacher's fp32 ONNX file (evaluate's
  `teacher_fp32.onnx`), 1 thread, 256x256, timed as evaluate times a build's files
  (measure/latency.py's `time_rounds`: WARMUP runs of each file, then ROUNDS alternating rounds
  of RUNS runs of each, the same boundary for both); each file's median of its round medians,
  and the speed-up "vs teacher" is the median of the per-round ratios (`round_ratios`), with
  their range.

Usage: .venv/bin/python benchmarks/quickstart_bar.py [--seeds 0,1,2]
Writes benchmarks/RESULTS-quickstart.md.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

import torch

from stylectl.pipelines.artifacts import Artifact
from stylectl.pipelines.config.loading import load_config
from stylectl.pipelines.export import onnx as onnx_format
from stylectl.pipelines.export import tflite as tflite_format
from stylectl.pipelines.measure.latency import BOUNDARY, BUSY_SPREAD, busy_warning, round_ratios, time_rounds
from stylectl.pipelines.progress import PlainReporter
from stylectl.pipelines.readers import evaluated_teacher_onnx, exported_file
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


TEACHER, STUDENT = "teacher fp32 (onnx)", "student int8 (tflite)"


def speed(evaluate: Artifact, export: Artifact, size: int) -> dict[str, dict]:
    """Each file's `time_rounds` timing, loaded once and timed in alternating rounds."""
    image = torch.rand(3, size, size)
    files = {TEACHER: onnx_format.prepare(evaluated_teacher_onnx(evaluate), image, 1, {}),
             STUDENT: tflite_format.prepare(exported_file(export, "int8", "tflite"), image, 1,
                                            {"nhwc": False, "int8_io": True})}
    return time_rounds({name: timed.call for name, timed in files.items()}, WARMUP, RUNS, ROUNDS,
                       on_round=lambda done: print(f"round {done}/{ROUNDS}", file=sys.stderr))


def _mean_range(values: list[float], digits: int) -> str:
    return f"{statistics.mean(values):.{digits}f} ({min(values):.{digits}f}-{max(values):.{digits}f})"


def markdown(seeds: list[int], builds: dict[int, dict], timings: dict[str, dict], size: int) -> str:
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
    ratio = round_ratios(timings, TEACHER)[STUDENT]
    warning = busy_warning({name: timing["spread"] for name, timing in timings.items()})
    lines += ["", "## Speed: seed 0's shipped file against its teacher", "",
              f"1 thread, {size}x{size}, {WARMUP} warm-up runs of each file, then {ROUNDS} alternating rounds of "
              f"{RUNS} runs of each; boundary: {BOUNDARY}.", "",
              *([f"**{warning}**", ""] if warning else []),
              "| file | median ms (min-max over rounds) | spread |", "|---|---|---|",
              *(f"| {name} | {timing['median_ms']:.2f} ({timing['min_ms']:.2f}-{timing['max_ms']:.2f}) | "
                f"{timing['spread']:.0%} |" for name, timing in timings.items()),
              "", f"Spread: (max-min)/median of the round medians; above {BUSY_SPREAD:.0%} the machine was busy.",
              "", f"int8 TFLite file vs teacher (its fp32 ONNX file): median of the per-round ratios "
              f"{ratio['median']:.1f}x (range {ratio['min']:.1f}x-{ratio['max']:.1f}x).", ""]
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
    timings = speed(first["evaluate"], first["export"], size)
    publish(markdown(seeds, builds, timings, size), HERE / "RESULTS-quickstart.md")


if __name__ == "__main__":
    main()
