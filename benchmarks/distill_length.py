"""How much does distilling longer bring? The quickstart's student against its teacher over 4000 steps.

Builds (or reuses) the quickstart's teacher and a student distilled with the quickstart's recipe
for `--steps` steps (build `distill-length`, validation every 250 steps), then reads the held-out
PSNR curve from the distill stage's log (`val/psnr`: the student against the teacher on the 3
held-out photos at 256x256, fp32 torch models, EMA weights) and the stage's final PSNR / SSIM.
The learning rate is constant, so the curve at step N is what a run of N steps would give up to
the EMA's lag.

Usage: .venv/bin/python benchmarks/distill_length.py [--steps 4000]
Writes benchmarks/RESULTS-distill-length.md.
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

from stylectl.pipelines.config.loading import load_config
from stylectl.pipelines.progress import PlainReporter
from stylectl.pipelines.readers import training_log
from stylectl.pipelines.report.cells import machine
from stylectl.pipelines.runner import plan_stage, run_stages

from results import publish

HERE = Path(__file__).parent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=Path("configs/quickstart.yaml"))
    parser.add_argument("--checkpoints", type=Path, default=Path("checkpoints"))
    parser.add_argument("--steps", type=int, default=4000)
    args = parser.parse_args()
    config = load_config(args.config, ["name=distill-length", f"student.steps={args.steps}",
                                       "student.trainer.val_every_n_steps=250"])
    outcomes = {o.stage: o for o in run_stages(config, plan_stage("distill"), args.checkpoints, PlainReporter())}
    distill = outcomes["distill"].artifact
    with training_log(distill).open() as handle:
        curve = [(int(row["step"]) + 1, float(row["val/psnr"])) for row in csv.DictReader(handle) if row.get("val/psnr")]
    metrics, info = distill.manifest["metrics"], machine()
    lines = [
        "# Distillation length: the quickstart's student against its teacher", "",
        f"Command: `.venv/bin/python benchmarks/distill_length.py --steps {args.steps}` (configs/quickstart.yaml's "
        f"teacher and student recipe, {config.student.steps} steps of {config.student.batch_size} crops at "
        f"{config.data.crop_size} px, seed {config.seed}, constant learning rate {config.student.lr}, EMA "
        f"{config.student.trainer.ema_decay})",
        f"Machine: {info['cpu']}, {info['cores']} cores, no GPU (shared with other jobs while it trained, which "
        f"only slows it). One run, seed {config.seed}.", "",
        "Held-out PSNR of the student (fp32 torch, EMA weights) against the teacher, 3 photos at 256x256, "
        "from the distill stage's `logs/metrics.csv`:", "",
        "| step | PSNR dB |", "|---|---|", *(f"| {step} | {value:.2f} |" for step, value in curve), "",
        f"Final: **{metrics['psnr_vs_teacher']:.2f} dB / {metrics['ssim_vs_teacher']:.3f} SSIM** after "
        f"{config.student.steps} steps; distill stage {distill.manifest['timing']['seconds']:.0f} s.", "",
    ]
    by_step = dict(curve)
    if {1000, 2000, 4000} <= by_step.keys():
        lines += [f"Each doubling brings less: 1000 -> 2000 steps +{by_step[2000] - by_step[1000]:.2f} dB, "
                  f"2000 -> 4000 +{by_step[4000] - by_step[2000]:.2f} dB.", ""]
    publish("\n".join(lines), HERE / "RESULTS-distill-length.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
