"""`stylectl stylize`: apply a built model to photos, folders and videos."""

from __future__ import annotations

import json
from pathlib import Path
from typing import List, Optional

import typer

from stylectl.cli import options

VARIANTS = ("int8", "fp32", "fp16")
FILE_FORMATS = ("onnx", "tflite", "pte")


def stylize(
    sources: List[Path] = typer.Argument(..., help="Photos, folders (searched recursively) and videos "
                                                   "(mp4, mov, webm, gif).", show_default=False),
    model: Path = typer.Option(..., "--model", "-m", help="A build config (its finished export), an export or "
                                                        "evaluate stage folder, or a .onnx/.tflite/.pte file."),
    out: Path = typer.Option(..., "--output", "-o", help="Folder to write the stylized files to."),
    variant: Optional[str] = typer.Option(None, "--variant", help=f"With a config or folder: {'|'.join(VARIANTS)} "
                                                                  "(default int8)."),
    file_format: Optional[str] = typer.Option(None, "--format", help=f"With a config or folder: "
                                                                     f"{'|'.join(FILE_FORMATS)} (default: the first "
                                                                     "exported that runs here)."),
    strength: float = typer.Option(1.0, "--strength", min=0.0, max=1.0, help="Blend with the original: 0 keeps "
                                                                             "the photo, 1 is the model's output."),
    preserve_color: bool = typer.Option(False, "--preserve-color", help="Keep the photo's colours (the style's "
                                                                        "luminance only)."),
    stroke_scale: float = typer.Option(1.0, "--stroke-scale", min=1.0, max=16.0, help="Make the style's strokes "
                                       "this many times larger: the model sees the photo shrunk as much, and the "
                                       "result is upsampled along the photo's edges (for large photos)."),
    max_side: Optional[int] = typer.Option(None, "--max-side", min=8, help="Shrink inputs so their longest side "
                                                                           "is at most this."),
    max_pixels: Optional[int] = typer.Option(None, "--max-pixels", min=1, help="Refuse photos declaring more "
                                             "pixels than this, before decoding them (default 50 million)."),
    threads: int = typer.Option(1, "--threads", min=1, help="Runtime threads (the report times 1)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace outputs that already exist (never a source)."),
    measure: bool = typer.Option(False, "--measure", help="Also measure each video's flicker: the warping error "
                                                          "of the stylized clip and of the input clip (DIS flow)."),
    set_: options.Overrides = options.SetOpt,
    checkpoints: Path = options.CheckpointsOpt,
    as_json: bool = options.JsonOpt,
    plain: bool = options.PlainOpt,
) -> None:
    """Stylize photos, folders and videos with a built model, each file run in its own runtime."""
    from stylectl.pipelines.errors import UserInputError
    from stylectl.pipelines.images import DEFAULT_MAX_PIXELS
    from stylectl.pipelines.progress import make_reporter
    from stylectl.pipelines.stylize.look import Look
    from stylectl.pipelines.stylize.model import resolve_model
    from stylectl.pipelines.stylize.run import plan_jobs, stylize_all

    for value, flag, allowed in ((variant, "--variant", VARIANTS), (file_format, "--format", FILE_FORMATS)):
        if value is not None and value not in allowed:
            raise UserInputError(f"{flag} {value}: choose from {', '.join(allowed)}")
    jobs, problems = plan_jobs(sources, out, overwrite)
    chosen = resolve_model(model, variant, file_format, checkpoints, threads, set_ or [])
    reporter = make_reporter(plain or None)
    reporter.line(f"model: {chosen.path} ({chosen.file_format}, {chosen.describe()['runtime']})")
    summary = stylize_all(jobs, chosen, Look(strength, preserve_color, stroke_scale), max_side, reporter, measure,
                          max_pixels or DEFAULT_MAX_PIXELS)
    summary["failures"] = problems + summary["failures"]
    if as_json:
        print(json.dumps(summary, indent=2))
    else:
        rate = summary["frames_per_second"]
        print(f"stylized {len(summary['outputs'])} file(s), {summary['frames']} frame(s) in {summary['seconds']:.1f}s"
              + (f" ({rate:.2f} frames/s)" if rate else "") + f" -> {out}")
        for row in summary["outputs"]:
            flicker = row.get("warping_error", {})
            if "stylized" in flicker:
                cuts = f"; {flicker['shot_cuts']} shot cut(s) left out" if flicker["shot_cuts"] else ""
                print(f"{row['output']}: warping error {flicker['stylized']:.5f} (input clip {flicker['input']:.5f}"
                      f"{cuts})")
    if failures := summary["failures"]:
        written = len(summary["outputs"])
        raise UserInputError("\n".join(failures) + f"\n{len(failures)} of {len(failures) + written} file(s) failed; "
                             f"{written} written to {out}")


def register(app: typer.Typer) -> None:
    app.command("stylize")(stylize)
