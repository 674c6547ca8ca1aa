"""Issue 20's throughput bar: `stylectl stylize` on a 512x512 photo with the int8 TFLite student
against the teacher's ONNX file, and a 10-second 480p clip end to end, in one run.

Builds (or reuses) the config's chain (default: the quickstart), then measures the stylize code
path itself (pipelines/stylize: tiling to the files' fixed input, the runtime through the format's
`run`, blending), 1 runtime thread:
- photo: a 512x512 crop of a shipped photo (PHOTO), stylized `CHUNK` frames per runtime call as a video's
  frames are; frames/s per round = CHUNK / seconds; rounds alternate the two files so machine
  drift hits both alike; the median of `ROUNDS` rounds after `WARMUP` untimed ones
  (measure/latency.py's convention);
- clip: 10 s of 854x480 at 30 frames/s with AAC audio, made here from a pan across a shipped photo,
  through `stylize_video` (decode, stylize, H.264 encode, audio copy); frames/s = frames / wall
  seconds, the median of `CLIP_RUNS` runs.

Usage: OMP_NUM_THREADS=1 .venv/bin/python benchmarks/stylize.py [--config configs/quickstart.yaml]
Writes benchmarks/RESULTS-stylize.md.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from functools import partial
from pathlib import Path

import numpy as np
from PIL import Image

from stylectl.pipelines.readers import evaluated_teacher_onnx
from stylectl.pipelines.report.cells import machine
from stylectl.pipelines.stylize.frames import CHUNK, stylize_frames
from stylectl.pipelines.stylize.look import Look
from stylectl.pipelines.stylize.model import from_file, from_stage_folder
from stylectl.pipelines.stylize.video import stylize_video

from clips import write_pan
from results import built_chain, publish

ROUNDS, WARMUP, CLIP_RUNS, THREADS = 7, 1, 2, 1
CLIP_SECONDS, CLIP_RATE, CLIP_SIZE = 10, 30, (854, 480)
HERE = Path(__file__).parent
PHOTO = HERE.parent / "pipelines" / "assets" / "photos" / "gcompris_brandenburg_gate.jpg"  # ships in the repo


def main() -> None:
    args, config, outcomes = built_chain(__doc__.splitlines()[0])
    models = {"student int8 (tflite)": from_stage_folder(outcomes["export"].folder, "int8", "tflite", THREADS),
              "teacher fp32 (onnx)": from_file(evaluated_teacher_onnx(outcomes["evaluate"]), THREADS)}
    photo = _photo(512)
    photo_fps = _photo_rates(models, photo)
    with tempfile.TemporaryDirectory() as scratch:
        clip = Path(scratch) / "clip.mp4"
        _make_clip(clip, photo)
        clip_runs = [_clip_rate(models["student int8 (tflite)"], clip, Path(scratch) / f"out{index}.mp4")
                     for index in range(CLIP_RUNS)]
    publish(_table(config, args, models, photo_fps, clip_runs), HERE / "RESULTS-stylize.md")


def _photo(side: int) -> np.ndarray:
    """The centre of a shipped photo, cropped square and resized to side x side."""
    with Image.open(PHOTO) as image:
        square = min(image.size)
        left, top = (image.width - square) // 2, (image.height - square) // 2
        return np.asarray(image.convert("RGB").crop((left, top, left + square, top + square))
                          .resize((side, side), Image.Resampling.LANCZOS))


def _photo_rates(models: dict, photo: np.ndarray) -> dict[str, list[float]]:
    rates = {name: [] for name in models}
    for round_index in range(WARMUP + ROUNDS):
        for name, model in models.items():
            started = time.perf_counter()
            for _ in stylize_frames(model, [photo] * CHUNK, Look()):
                pass
            if round_index >= WARMUP:
                rates[name].append(CHUNK / (time.perf_counter() - started))
        print(f"photo round {round_index + 1}/{WARMUP + ROUNDS}", file=sys.stderr)
    return rates


def _make_clip(path: Path, photo: np.ndarray) -> None:
    """A pan across the photo (enlarged to 2x the clip's height), with a 440 Hz tone in AAC."""
    height = CLIP_SIZE[1]
    scene = np.asarray(Image.fromarray(photo).resize((2 * height, 2 * height), Image.Resampling.LANCZOS))
    write_pan(path, scene, CLIP_SIZE, CLIP_SECONDS * CLIP_RATE, CLIP_RATE, tone=True)


def _clip_rate(model, clip: Path, target: Path) -> dict:
    started = time.perf_counter()
    written = stylize_video(clip, target, partial(stylize_frames, model, look=Look()), None, lambda: None)
    seconds = time.perf_counter() - started
    print(f"clip: {written['frames']} frames in {seconds:.1f}s", file=sys.stderr)
    return {**written, "seconds": seconds, "fps": written["frames"] / seconds, "source_fps": written["fps"]}


def _table(config, args, models: dict, photo_fps: dict, clip_runs: list[dict]) -> str:
    info = machine()
    student, teacher = (statistics.median(photo_fps[name]) for name in models)
    clip = clip_runs[0]
    lines = [
        "# Benchmark: `stylectl stylize` throughput (issue 20)",
        "",
        f"Command: `OMP_NUM_THREADS=1 .venv/bin/python benchmarks/stylize.py --config {args.config}`",
        f"Machine: {info['cpu']}, {info['cores']} cores (shared with other jobs while it ran). Build "
        f"`{config.name}`; its files take {config.data.eval_size}x{config.data.eval_size} inputs, so a larger "
        f"picture is cut into overlapping tiles (pipelines/stylize/tiles.py). {THREADS} runtime thread.",
        "",
        f"## 512x512 photo ({CHUNK} frames per runtime call; median of {ROUNDS} alternating rounds after "
        f"{WARMUP} warm-up)",
        "",
        "| file | runtime | frames/s (median) | min-max over rounds |",
        "|---|---|---|---|",
    ]
    for name, model in models.items():
        rates = photo_fps[name]
        lines.append(f"| {name} `{model.path.name}` | {model.describe()['runtime']} | "
                     f"{statistics.median(rates):.2f} | {min(rates):.2f}-{max(rates):.2f} |")
    lines += [
        "",
        f"Student int8 TFLite / teacher ONNX: **{student / teacher:.1f}x** the frames per second.",
        "",
        f"## {CLIP_SECONDS} s clip, {CLIP_SIZE[0]}x{CLIP_SIZE[1]} at {CLIP_RATE} frames/s with AAC audio, end to end",
        "",
        "Decode (PyAV), stylize with the student int8 TFLite file, encode H.264 yuv420p, copy the audio.",
        "",
        "| run | frames | wall seconds | frames/s | audio copied |",
        "|---|---|---|---|---|",
    ]
    for index, run in enumerate(clip_runs, 1):
        lines.append(f"| {index} | {run['frames']} | {run['seconds']:.1f} | {run['fps']:.2f} | {run['audio']} |")
    lines += ["", f"Median: **{statistics.median(run['fps'] for run in clip_runs):.2f} frames/s** "
              f"({clip['width']}x{clip['height']} output at {clip['source_fps']:g} frames/s).", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
