"""Issue 20's temporal bar: does `student.temporal_weight` make the student flicker no more than its teacher,
at <= 0.5 dB PSNR (against the teacher) below the same student trained without it?

Per seed in `--seeds`, builds the quickstart's teacher and distils its student through the pipeline (`--set`
overrides; one build folder per seed, `temporal-s<seed>`, so each seed's teacher is trained once) with each
weight in `--weights` (0 first: that seed's "without" run), all at the same steps. The seed also draws the
teacher, so every comparison is paired: a weight's PSNR cost is measured against the run without it on the
same seed, and the bar is judged on the mean cost over seeds (one run's cost swings by a few tenths of a dB
with the training trajectory). Per student, on the held-out photos at 256x256: the warping error on evaluate's
pan/zoom clips (pan_clips.py: exact motion, one clip per photo) beside the teacher's and the input clips'
own, and PSNR/SSIM against the teacher on the photos.

Usage: .venv/bin/python benchmarks/temporal.py [--steps 600] [--weights 0,0.3,1] [--seeds 0,1,2] [--jobs 2]
`--jobs` seeds train at once, one process and one thread each.
Writes benchmarks/RESULTS-temporal.md (after every seed), benchmarks/temporal/samples.png (the first seed's
photos: content, teacher, each student) and benchmarks/temporal/flicker.png (per clip, one frame and each
model's |frame - previous frame warped|, amplified 8x; black where nothing differs or the pixel entered the
view).
"""

from __future__ import annotations

import argparse
import multiprocessing
from datetime import datetime, timezone
from pathlib import Path
from statistics import mean

import torch

from stylectl.pipelines.config.loading import load_config
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
COST_BAR_DB = 0.5


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


def measure_seed(args: argparse.Namespace, seed: int) -> dict:
    """One seed's teacher and its students, one per weight: their measurements and picture columns."""
    torch.set_num_threads(1)
    rows, clips, photos, teacher, flicker_columns, sample_columns = [], None, None, None, {}, {}
    for weight in args.weights:
        config = load_config(args.config, [f"name=temporal-s{seed}", f"seed={seed}", f"student.steps={args.steps}",
                                           f"student.temporal_weight={weight}"])
        outcomes = {outcome.stage: outcome for outcome in
                    run_stages(config, plan_stage("distill"), args.checkpoints, PlainReporter())}
        student = load_student(outcomes["distill"].artifact).eval()
        if teacher is None:  # every weight of this seed shares the build's teacher
            teacher = load_teacher(outcomes["train-teacher"].artifact).eval()
            paths = resolve_content(config.data.content, config.data.holdout_fraction).heldout
            photos = eval_batch(paths, SIZE)
            clips = pan_clips(eval_batch(paths, SOURCE_SCALE * SIZE), SIZE, [path.stem for path in paths])
            sample_columns = {"content": photos, "teacher": predict(teacher, photos)}
            flicker_columns = {"frame": torch.stack([clip.frames[len(clip.frames) // 2 + 1] for clip in clips]),
                               "input clip": _residuals(clips, lambda frames: frames),
                               "teacher": _residuals(clips, lambda frames: predict(teacher, frames))}
        output = predict(student, photos)
        flicker = {row["artifact"]: row for row in flicker_rows(
            clips, {"teacher": lambda frames: predict(teacher, frames),
                    "student": lambda frames: predict(student, frames)}, "teacher")}
        rows.append({"seed": seed, "weight": weight, "flicker": flicker,
                     "psnr": psnr(output, sample_columns["teacher"]), "ssim": ssim(output, sample_columns["teacher"]),
                     "seconds": outcomes["distill"].seconds, "status": outcomes["distill"].status,
                     "folder": str(outcomes["distill"].artifact.folder)})
        sample_columns[f"temporal_weight {weight:g}"] = output
        flicker_columns[f"temporal_weight {weight:g}"] = _residuals(clips, lambda frames: predict(student, frames))
    return {"rows": rows, "samples": sample_columns, "flicker": flicker_columns}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=Path("configs/quickstart.yaml"))
    parser.add_argument("--checkpoints", type=Path, default=Path("checkpoints"))
    parser.add_argument("--steps", type=int, default=600, help="distillation steps of every student")
    parser.add_argument("--weights", default="0,0.3,1", help="comma-separated student.temporal_weight values")
    parser.add_argument("--seeds", default="0,1,2", help="comma-separated seeds (each: a teacher and its students)")
    parser.add_argument("--jobs", type=int, default=2, help="seeds measured at once")
    parser.add_argument("--output", type=Path, default=HERE / "RESULTS-temporal.md")
    args = parser.parse_args()
    args.weights = [0.0, *(weight for weight in map(float, args.weights.split(",")) if weight != 0)]
    seeds = [int(value) for value in args.seeds.split(",")]

    results = {}
    with multiprocessing.get_context("spawn").Pool(min(args.jobs, len(seeds))) as pool:
        for seed, result in zip(seeds, pool.imap(_measure, [(args, seed) for seed in seeds])):
            results[seed] = result
            if seed == seeds[0]:
                save_grid(result["samples"], HERE / "temporal" / "samples.png")
                save_grid(result["flicker"], HERE / "temporal" / "flicker.png")
            publish(_markdown(args, seeds, [row for done in results.values() for row in done["rows"]]), args.output)


def _measure(job: tuple[argparse.Namespace, int]) -> dict:
    return measure_seed(*job)


def _markdown(args, seeds: list[int], rows: list[dict]) -> str:
    clip_names = list(rows[0]["flicker"]["teacher"]["per_clip"])
    baselines = {row["seed"]: row for row in rows if row["weight"] == 0}
    lines = [
        "# Temporal consistency: student.temporal_weight (issue 20)",
        "",
        f"`.venv/bin/python benchmarks/temporal.py --steps {args.steps} --weights "
        f"{','.join(f'{weight:g}' for weight in args.weights)} --seeds {','.join(map(str, seeds))} "
        f"--jobs {args.jobs}`, {datetime.now(timezone.utc):%Y-%m-%d}, on {machine()['cpu']} ({machine()['cores']} "
        f"cores; {args.jobs} seeds at once, one thread each). Per seed, a quickstart teacher and one student per "
        f"weight, each distilled for {args.steps} steps (`{args.config}` otherwise unchanged).",
        "",
        "Warping error (Lai et al. 2018): mean squared difference (0-1 range) between each stylized frame and the "
        "previous stylized frame warped by the clip's exact motion, on pixels visible in both; mean over "
        f"{len(clip_names)} clips of 8 frames at {SIZE}x{SIZE}, one per held-out photo "
        f"({', '.join(clip_names)}). PSNR/SSIM: against that seed's teacher on the held-out photos at "
        f"{SIZE}x{SIZE}. PSNR cost: the same seed's run without the term minus this run.",
        "",
        "## Summary (mean over seeds)",
        "",
        "| temporal_weight | seeds | warping error x teacher | PSNR vs teacher dB | PSNR cost dB | SSIM | bar |",
        "|---|---|---|---|---|---|---|",
    ]
    for weight in args.weights:
        group = [row for row in rows if row["weight"] == weight]
        ratio = mean(row["flicker"]["student"]["vs_teacher"] for row in group)
        costs = [baselines[row["seed"]]["psnr"] - row["psnr"] for row in group if row["seed"] in baselines]
        cost = mean(costs) if costs else None
        flickers_less = all(row["flicker"]["student"]["vs_teacher"] <= 1 for row in group)
        verdict = "-" if weight == 0 or cost is None else (
            "met" if flickers_less and cost <= COST_BAR_DB else "missed")
        lines.append(f"| {weight:g} | {len(group)} | {ratio:.2f} | {mean(row['psnr'] for row in group):.2f} | "
                     f"{'-' if cost is None else f'{cost:+.2f}'} | {mean(row['ssim'] for row in group):.3f} | "
                     f"{verdict} |")
    lines += ["", f"Bar: on every seed the student's warping error <= its teacher's, at a mean PSNR cost <= "
              f"{COST_BAR_DB} dB.", "", "## Every run", "",
              "| seed | model | warping error | x teacher | " + " | ".join(clip_names) + " | PSNR vs teacher dB | "
              "PSNR cost dB | SSIM | distill s |",
              "|---|---|---|---|" + "---|" * len(clip_names) + "---|---|---|---|"]

    def cells(entry: dict) -> str:
        return (f"{entry['warping_error']:.3g} | {entry['vs_teacher']:.2f} | "
                + " | ".join(f"{entry['per_clip'][clip]:.3g}" for clip in clip_names))

    for seed in sorted({row["seed"] for row in rows}):
        group = [row for row in rows if row["seed"] == seed]
        for fixed in ("input clip", "teacher"):
            lines.append(f"| {seed} | {fixed} | {cells(group[0]['flicker'][fixed])} | - | - | - | - |")
        for row in group:
            baseline = baselines.get(seed)
            cost = f"{baseline['psnr'] - row['psnr']:+.2f}" if baseline else "-"
            seconds = f"{row['seconds']:.0f}" if row["status"] == "ran" else "cached"
            lines.append(f"| {seed} | student, temporal_weight {row['weight']:g} | {cells(row['flicker']['student'])}"
                         f" | {row['psnr']:.2f} | {cost} | {row['ssim']:.3f} | {seconds} |")
    lines += ["", "Builds: " + ", ".join(f"`{row['folder']}`" for row in rows), ""]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
