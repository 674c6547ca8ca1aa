"""Issue 4's bar, measured in one run: the default student against the classic teacher.

- MACs: default student vs the classic fast-neural-style teacher (width 32, 5 blocks) at 256.
- Fidelity: PSNR / SSIM of the distilled student against the teacher it learned from, on the
  built-in held-out photos (from the distill stage's manifest).
- Speed: fp32 onnxruntime latency, 1 thread, 256x256, student vs classic teacher, timed in
  alternating rounds in this process (median of the round medians).

Usage: .venv/bin/python benchmarks/distill_bar.py [--config benchmarks/distill_bar.yaml]
       [--set KEY=VALUE ...] [--output FILE]
Writes benchmarks/RESULTS-distill.md. The same bar with a BatchNorm teacher (Johnson et al.'s
original fast style network), in its own build folder:
  .venv/bin/python benchmarks/distill_bar.py --set name=distill_bar_batchnorm --set teacher.norm=batch \
      --output benchmarks/RESULTS-distill-batchnorm.md
and trained four times longer with a decaying learning rate:
  .venv/bin/python benchmarks/distill_bar.py --set name=distill_bar_batchnorm --set teacher.norm=batch \
      --set student.steps=12000 --set student.lr_schedule=cosine --output benchmarks/RESULTS-distill-batchnorm-long.md
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import torch

from stylectl.pipelines.config.loading import load_config
from stylectl.pipelines.measure.latency import compare_onnx
from stylectl.pipelines.models.cost import count_macs, count_params
from stylectl.pipelines.models.teacher import TransformerNet
from stylectl.pipelines.models.to_onnx import export_onnx
from stylectl.pipelines.progress import PlainReporter
from stylectl.pipelines.readers import load_student
from stylectl.pipelines.report.cells import machine
from stylectl.pipelines.runner import plan_stage, run_stages

from results import publish

SIZE, ROUNDS, RUNS, WARMUP = 256, 5, 20, 5
HERE = Path(__file__).parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=Path("benchmarks/distill_bar.yaml"))
    parser.add_argument("--checkpoints", type=Path, default=Path("checkpoints"))
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a config value, as `stylectl --set` does (repeatable)")
    parser.add_argument("--output", type=Path, default=HERE / "RESULTS-distill.md")
    args = parser.parse_args()

    config = load_config(args.config, args.overrides)
    distill = run_stages(config, plan_stage("distill"), args.checkpoints, PlainReporter())[-1].artifact
    student = load_student(distill)
    torch.manual_seed(0)
    classic = TransformerNet(width=32, res_blocks=5, norm="instance").eval()

    with tempfile.TemporaryDirectory() as scratch:
        files = {"classic teacher": Path(scratch) / "classic.onnx", "student": Path(scratch) / "student.onnx"}
        export_onnx(classic, SIZE, 18, files["classic teacher"])
        export_onnx(student, SIZE, 18, files["student"])
        latency = compare_onnx(files, torch.rand(3, SIZE, SIZE), 1, WARMUP, RUNS, ROUNDS)

    macs = {"classic teacher": count_macs(classic, SIZE), "student": count_macs(student, SIZE)}
    params = {"classic teacher": count_params(classic), "student": count_params(student)}
    metrics = distill.metrics
    rows = [
        ("MACs at 256x256", f"{macs['classic teacher'] / 1e9:.2f} G", f"{macs['student'] / 1e6:.0f} M",
         f"1/{macs['classic teacher'] / macs['student']:.1f}", "<= 1/25"),
        ("parameters", f"{params['classic teacher']:,}", f"{params['student']:,}",
         f"1/{params['classic teacher'] / params['student']:.1f}", ""),
        ("fp32 onnxruntime latency, 1 thread", f"{latency['classic teacher']:.1f} ms", f"{latency['student']:.2f} ms",
         f"{latency['classic teacher'] / latency['student']:.1f}x faster", ">= 20x"),
        ("PSNR vs its teacher (held-out)", "-", f"{metrics['psnr_vs_teacher']:.2f} dB", "", ">= 28 dB"),
        ("SSIM vs its teacher (held-out)", "-", f"{metrics['ssim_vs_teacher']:.3f}", "", ">= 0.90"),
    ]
    info = machine()
    table = ["| measure | classic teacher | default student | ratio | bar |", "|---|---|---|---|---|"]
    table += ["| " + " | ".join(row) + " |" for row in rows]
    text = "\n".join([
        "# Distillation bar (issue 4)",
        "",
        f"Command: `.venv/bin/python benchmarks/distill_bar.py --config {args.config}"
        f"{''.join(f' --set {override}' for override in args.overrides)} --output {args.output}`",
        f"Machine: {info['cpu']}, {info['cores']} cores. Student: {config.student.steps} distillation steps "
        f"(batch {config.student.batch_size}, {config.data.crop_size}px crops) from a teacher of width "
        f"{config.teacher.width} ({config.teacher.norm} norm) trained {config.teacher.steps} steps; {distill.folder}.",
        f"Latency: median of {ROUNDS} alternating rounds, each the median of {RUNS} runs after {WARMUP} warm-up.",
        "",
        *table,
        "",
    ])
    publish(text, args.output)


if __name__ == "__main__":
    main()
