"""Issue 20's temporal bar: does `student.temporal_weight` make the student flicker no more than its teacher,
at <= 0.5 dB PSNR (against the teacher) below the same student trained without it?

Builds the quickstart's teacher and distils its student through the pipeline (`--set` overrides, one build
folder, so the teacher is trained once) with each weight in `--weights` (0 first: the "without" run), all at
the same steps. Per student, on the held-out photos at 256x256: the warping error on evaluate's pan/zoom clips
(pan_clips.py: exact motion, one clip per photo) beside the teacher's and the input clips' own, and PSNR/SSIM
against the teacher on the photos.

Usage: OMP_NUM_THREADS=1 .venv/bin/python benchmarks/temporal.py [--steps 600] [--weights 0,10,50]
Writes benchmarks/RESULTS-temporal.md (after every run), benchmarks/temporal/samples.png (photos: content,
teacher, each student) and benchmarks/temporal/flicker.png (per clip, one frame and each model's
|frame - previous frame warped|, amplified 8x; black where nothing differs or the pixel entered the view).
"""

from __future__ import annotations

import argparse
from datetime import datetime, timezone
from pathlib import Path

import torch

from stylectl.pipelines.config_loader import load_config
from stylectl.pipelines.data import eval_batch, resolve_content
from stylectl.pipelines.measure.grid import save_grid
from stylectl.pipelines.measure.metrics import predict, psnr, ssim
from stylectl.pipelines.measure.pan_clips import SOURCE_SCALE, flicker_rows, pan_clips, warp_previous
from stylectl.pipelines.progress import PlainReporter
from stylectl.pipelines.readers import load_student, load_teacher
from stylectl.pipelines.report.cells import machine
from stylectl.pipelines.runner import plan_stage, run_stages

from results import publish

HERE = Path(__file__).parent
SIZE = 256
AMPLIFY = 8


def _student_name(weight: float) -> str:
    return f"student, temporal_weight {weight:g}"


def _residuals(clips, stylize) -> torch.Tensor:
    """Per clip, |stylized frame - previous stylized frame warped| at the middle pair, masked, as grey RGB."""
    images = []
    for clip in clips:
        stylized = stylize(clip.frames)
        warped, mask = warp_previous(stylized, clip)
        middle = len(warped) // 2
        difference = (stylized[middle + 1] - warped[middle]).abs().mean(dim=0, keepdim=True) * mask[middle]
        images.append((difference * AMPLIFY).expand(3, -1, -1))
    return torch.stack(images)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=Path("configs/quickstart.yaml"))
    parser.add_argument("--checkpoints", type=Path, default=Path("checkpoints"))
    parser.add_argument("--steps", type=int, default=600, help="distillation steps of every student")
    parser.add_argument("--weights", default="0,10,50", help="comma-separated student.temporal_weight values")
    parser.add_argument("--output", type=Path, default=HERE / "RESULTS-temporal.md")
    args = parser.parse_args()
    weights = [float(value) for value in args.weights.split(",")]

    rows, clips, photos, teacher, flicker_columns, sample_columns = [], None, None, None, {}, {}
    for weight in weights:
        config = load_config(args.config, ["name=temporal", f"student.steps={args.steps}",
                                           f"student.temporal_weight={weight}"])
        outcomes = {outcome.stage: outcome for outcome in
                    run_stages(config, plan_stage("distill"), args.checkpoints, PlainReporter())}
        student = load_student(outcomes["distill"].artifact).eval()
        if teacher is None:  # every run shares the build's teacher
            teacher = load_teacher(outcomes["train-teacher"].artifact).eval()
            paths = resolve_content(config.data.content, config.data.holdout_fraction).heldout
            photos = eval_batch(paths, SIZE)
            clips = pan_clips(eval_batch(paths, SOURCE_SCALE * SIZE), SIZE, [path.stem for path in paths])
            sample_columns = {"content": photos, "teacher": predict(teacher, photos)}
            flicker_columns = {"frame": torch.stack([clip.frames[len(clip.frames) // 2 + 1] for clip in clips]),
                               "input clip": _residuals(clips, lambda frames: frames),
                               "teacher": _residuals(clips, lambda frames: predict(teacher, frames))}
        name = _student_name(weight)
        output = predict(student, photos)
        flicker = {row["artifact"]: row for row in flicker_rows(
            clips, {"teacher": lambda frames: predict(teacher, frames),
                    name: lambda frames: predict(student, frames)}, "teacher")}
        rows.append({"weight": weight, "name": name, "flicker": flicker,
                     "psnr": psnr(output, sample_columns["teacher"]), "ssim": ssim(output, sample_columns["teacher"]),
                     "seconds": outcomes["distill"].seconds, "status": outcomes["distill"].status,
                     "folder": outcomes["distill"].artifact.folder})
        sample_columns[f"temporal_weight {weight:g}"] = output
        flicker_columns[f"temporal_weight {weight:g}"] = _residuals(clips, lambda frames: predict(student, frames))
        save_grid(sample_columns, HERE / "temporal" / "samples.png")
        save_grid(flicker_columns, HERE / "temporal" / "flicker.png")
        publish(_markdown(args, rows), args.output)  # after every run: a stopped benchmark keeps what it measured


def _markdown(args, rows: list[dict]) -> str:
    first = rows[0]
    clip_names = list(first["flicker"]["teacher"]["per_clip"])
    baseline = next((row for row in rows if row["weight"] == 0), None)
    teacher_error = first["flicker"]["teacher"]["warping_error"]
    lines = [
        "# Temporal consistency: student.temporal_weight (issue 20)",
        "",
        f"`OMP_NUM_THREADS=1 .venv/bin/python benchmarks/temporal.py --steps {args.steps} --weights {args.weights}`,"
        f" {datetime.now(timezone.utc):%Y-%m-%d}, on {machine()['cpu']} ({machine()['cores']} cores, shared with "
        "other work); one run per row, every student distilled from the same quickstart teacher for "
        f"{args.steps} steps (`{args.config}` otherwise unchanged).",
        "",
        "Warping error (Lai et al. 2018): mean squared difference (0-1 range) between each stylized frame and the "
        "previous stylized frame warped by the clip's exact motion, on pixels visible in both; mean over "
        f"{len(clip_names)} clips of 8 frames at {SIZE}x{SIZE}, one per held-out photo "
        f"({', '.join(clip_names)}). PSNR/SSIM: against the teacher's output on the held-out photos at {SIZE}x{SIZE}.",
        "",
        "| model | warping error | x teacher | " + " | ".join(clip_names) + " | PSNR vs teacher dB | "
        "PSNR cost dB | SSIM | distill s | bar |",
        "|---|---|---|" + "---|" * len(clip_names) + "---|---|---|---|---|",
    ]

    def cells(entry: dict) -> str:
        return (f"{entry['warping_error']:.3g} | {entry['vs_teacher']:.2f} | "
                + " | ".join(f"{entry['per_clip'][clip]:.3g}" for clip in clip_names))

    for fixed in ("input clip", "teacher"):
        lines.append(f"| {fixed} | {cells(first['flicker'][fixed])} | - | - | - | - | - |")
    for row in rows:
        entry = row["flicker"][row["name"]]
        cost = baseline["psnr"] - row["psnr"] if baseline else None
        verdict = "-" if row["weight"] == 0 or cost is None else (
            "met" if entry["warping_error"] <= teacher_error and cost <= 0.5 else "missed")
        seconds = f"{row['seconds']:.0f}" if row["status"] == "ran" else "cached"
        lines.append(f"| {row['name']} | {cells(entry)} | {row['psnr']:.2f} | "
                     f"{'-' if cost is None else f'{cost:+.2f}'} | {row['ssim']:.3f} | {seconds} | {verdict} |")
    lines += ["", "Bar: warping error <= the teacher's, at a PSNR cost (without run minus this run) <= 0.5 dB.",
              "Builds: " + ", ".join(f"`{row['folder']}`" for row in rows), ""]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
