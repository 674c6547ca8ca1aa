"""Issue 5's bar, measured in one run: the default student pruned to half its MACs.

- Fidelity: PSNR / SSIM against the teacher on the built-in held-out photos, before pruning
  and after the last prune + fine-tune step (from the prune stage's manifest).
- Speed: fp32 onnxruntime latency, 1 thread, at the config's eval size, unpruned vs pruned
  student, timed in alternating rounds in this process (median of the round medians).

Usage: .venv/bin/python benchmarks/prune_bar.py [--config benchmarks/distill_bar.yaml]
Writes benchmarks/RESULTS-prune.md.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import torch

from stylectl.pipelines.config.loading import load_config
from stylectl.pipelines.measure.latency import compare_onnx
from stylectl.pipelines.models.to_onnx import export_onnx
from stylectl.pipelines.progress import PlainReporter
from stylectl.pipelines.readers import load_student
from stylectl.pipelines.report.cells import machine
from stylectl.pipelines.runner import plan_stage, run_stages

from results import publish

ROUNDS, RUNS, WARMUP = 5, 20, 5
HERE = Path(__file__).parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=HERE / "distill_bar.yaml")
    parser.add_argument("--checkpoints", type=Path, default=Path("checkpoints"))
    args = parser.parse_args()

    config = load_config(args.config)
    outcomes = run_stages(config, plan_stage("prune"), args.checkpoints, PlainReporter())
    distill, prune = (outcome.artifact for outcome in outcomes[-2:])
    size = config.data.eval_size
    with tempfile.TemporaryDirectory() as scratch:
        files = {"unpruned": Path(scratch) / "unpruned.onnx", "pruned": Path(scratch) / "pruned.onnx"}
        export_onnx(load_student(distill), size, config.export.opset, files["unpruned"])
        export_onnx(load_student(prune), size, config.export.opset, files["pruned"])
        latency = compare_onnx(files, torch.rand(3, size, size), 1, WARMUP, RUNS, ROUNDS)

    before, after = prune.metrics["before"], prune.metrics["after"]
    rows = [
        ("MACs", f"{before['macs'] / 1e6:.0f} M", f"{after['macs'] / 1e6:.0f} M",
         f"{after['macs'] / before['macs']:.2f}", "<= 0.50"),
        ("parameters", f"{before['params']:,}", f"{after['params']:,}", f"{after['params'] / before['params']:.2f}", ""),
        ("PSNR vs teacher (held-out)", f"{before['psnr_vs_teacher']:.2f} dB", f"{after['psnr_vs_teacher']:.2f} dB",
         f"{after['psnr_vs_teacher'] - before['psnr_vs_teacher']:+.2f} dB", ">= -0.5 dB"),
        ("SSIM vs teacher (held-out)", f"{before['ssim_vs_teacher']:.3f}", f"{after['ssim_vs_teacher']:.3f}",
         f"{after['ssim_vs_teacher'] - before['ssim_vs_teacher']:+.3f}", ""),
        ("fp32 onnxruntime latency, 1 thread", f"{latency['unpruned']:.2f} ms", f"{latency['pruned']:.2f} ms",
         f"{latency['unpruned'] / latency['pruned']:.2f}x faster", ">= 1.6x"),
    ]
    steps = ["| step | MACs | PSNR after prune | PSNR after fine-tune |", "|---|---|---|---|"]
    for entry in prune.metrics["history"][1:]:
        steps.append(f"| {entry['step']} | {entry['macs'] / 1e6:.0f} M | "
                     f"{entry['before_finetune']['psnr_vs_teacher']:.2f} dB | {entry['psnr_vs_teacher']:.2f} dB |")
    info, settings = machine(), config.prune
    text = "\n".join([
        "# Pruning bar (issue 5)",
        "",
        f"Command: `.venv/bin/python benchmarks/prune_bar.py --config {args.config}`",
        f"Machine: {info['cpu']}, {info['cores']} cores. Student from {distill.folder}; pruned with "
        f"importance `{settings.importance}`, {settings.allocation} allocation, {settings.schedule_steps} steps of "
        f"{settings.finetune_steps} fine-tune batches ({settings.batch_size} x {config.data.crop_size}px crops, "
        f"lr {settings.lr}); {prune.folder}.",
        f"Size {size}x{size}. Latency: median of {ROUNDS} alternating rounds, each the median of {RUNS} runs "
        f"after {WARMUP} warm-up.",
        "",
        "| measure | unpruned | pruned | change | bar |",
        "|---|---|---|---|---|",
        *("| " + " | ".join(row) + " |" for row in rows),
        "",
        "Schedule:",
        "",
        *steps,
        "",
    ])
    publish(text, HERE / "RESULTS-prune.md")


if __name__ == "__main__":
    main()
