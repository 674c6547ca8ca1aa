"""`stylectl stylize`: every source file through one model, with progress, a summary and failures
that do not stop the others.

A file that cannot be read, decoded or written is recorded and skipped; the command still writes
every other output, then fails with one line per bad file and a count (exit 2). Outputs are written atomically, so nothing
half-written is left under a real name.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Iterator

from stylectl.pipelines.errors import UserInputError
from stylectl.pipelines.images import DEFAULT_MAX_PIXELS
from stylectl.pipelines.progress import Reporter
from stylectl.pipelines.stylize.look import Look
from stylectl.pipelines.stylize.model import StyleModel
from stylectl.pipelines.stylize.photos import PHOTO_SUFFIXES
from stylectl.pipelines.stylize.video import VIDEO_SUFFIXES


@dataclass(frozen=True)
class Job:
    source: Path
    target: Path
    kind: str  # "photo" or "video"


def plan_jobs(sources: list[Path], out: Path, overwrite: bool = False) -> tuple[list[Job], list[str]]:
    """One job per photo or video: a folder's files (recursively) keep their path relative to the
    folder, a file given directly goes to OUT/its name; also the sources that are no photo or video.

    Refused before anything is written (UserInputError, exit 2), so no user file is ever lost: an
    output folder that is a source folder or inside one (its outputs would replace the sources, or
    be read as sources by the next run), an output that is a source file, and an output that
    already exists unless `overwrite`."""
    from stylectl.pipelines.stylize.video import output_name

    jobs, problems = [], []
    for source in sources:
        if source.is_dir():
            found = sorted(path for path in source.rglob("*") if path.is_file() and _kind(path)
                           and not any(part.startswith(".") for part in path.relative_to(source).parts))
            pairs = [(path, path.relative_to(source)) for path in found]
            if not pairs:
                problems.append(f"{source}: no photo or video in this folder")
        elif source.is_file() and _kind(source):
            pairs = [(source, Path(source.name))]
        else:
            why = "no such file or folder" if not source.exists() else "not a photo or video " \
                  f"({', '.join(sorted(PHOTO_SUFFIXES | VIDEO_SUFFIXES))})"
            problems.append(f"{source}: {why}")
            continue
        for path, relative in pairs:
            kind = _kind(path)
            name = output_name(relative) if kind == "video" else relative.name
            jobs.append(Job(path, out / relative.parent / name, kind))
    targets = [job.target for job in jobs]
    clashes = sorted({str(target) for target in targets if targets.count(target) > 1})
    if clashes:
        raise UserInputError(f"two sources would be written to the same output: {clashes[0]}")
    _refuse_data_loss(sources, out, jobs, overwrite)
    return jobs, problems


def _refuse_data_loss(sources: list[Path], out: Path, jobs: list[Job], overwrite: bool) -> None:
    resolved_out = out.resolve()
    for source in sources:
        if source.is_dir() and resolved_out.is_relative_to(source.resolve()):
            raise UserInputError(f"-o {out}: is inside the source folder {source}; its outputs would replace or "
                                 "join the photos being read: choose a folder outside it")
    inputs = {job.source.resolve() for job in jobs}
    for job in jobs:
        if job.target.resolve() in inputs:
            raise UserInputError(f"{job.target}: is one of the sources; choose another -o folder")
    existing = [job.target for job in jobs if job.target.exists()]
    if existing and not overwrite:
        more = f" (and {len(existing) - 1} more)" if len(existing) > 1 else ""
        raise UserInputError(f"{existing[0]}: already exists{more}; pass --overwrite to replace, or choose another "
                             "-o folder")


def _kind(path: Path) -> str | None:
    suffix = path.suffix.lower()
    return "photo" if suffix in PHOTO_SUFFIXES else "video" if suffix in VIDEO_SUFFIXES else None


def stylize_all(jobs: list[Job], model: StyleModel, look: Look, max_side: int | None,
                reporter: Reporter, measure: bool = False, max_pixels: int | None = DEFAULT_MAX_PIXELS) -> dict:
    """Run every job, photos first; returns the summary (outputs, failures, frames, seconds, frames/s).
    With `measure`, each video's row also holds its flicker (warping error, measure/flicker.py)."""
    from stylectl.pipelines.stylize.frames import stylize_frames
    from stylectl.pipelines.stylize.video import frame_count

    outputs, failures, totals = [], [], {}
    for job in jobs:
        try:
            totals[job] = frame_count(job.source) if job.kind == "video" else 1
        except UserInputError as error:
            failures.append(str(error))
    pairs = partial(stylize_frames, model, look=look)
    with reporter.task("stylize (frames)", max(1, sum(totals.values()))) as task:
        progress = _Progress(task)
        photos = [job for job in totals if job.kind == "photo"]
        for job, written in _photos(photos, pairs, max_side, max_pixels, progress, failures):
            outputs.append({"source": str(job.source), "output": str(job.target), "kind": "photo", **written})
        for job in (job for job in totals if job.kind == "video"):
            started, before = time.monotonic(), progress.frames
            try:
                written = _video(job, pairs, max_side, progress.frame, reporter, measure)
            except (UserInputError, OSError) as error:
                failures.append(str(error) if isinstance(error, UserInputError) else _unwritable(job, error))
                progress.skip(max(0, totals[job] - (progress.frames - before)))
                continue
            outputs.append({"source": str(job.source), "output": str(job.target), "kind": "video",
                            "seconds": round(time.monotonic() - started, 3), **written})
    seconds = time.monotonic() - progress.started
    return {"model": model.describe(), "strength": look.strength, "preserve_color": look.preserve_color,
            "stroke_scale": look.stroke_scale,
            "outputs": outputs, "failures": failures, "frames": progress.frames, "seconds": round(seconds, 3),
            "frames_per_second": progress.frames / seconds if seconds > 0 else None}


def _unwritable(job: Job, error: OSError) -> str:
    return f"cannot write {job.target}: {error.strerror or error}"


class _Progress:
    """Frames written, and the bar: a failed file's frames count as done there, so the bar ends full."""

    def __init__(self, task) -> None:
        self.task, self.started, self.frames, self.skipped = task, time.monotonic(), 0, 0

    def frame(self) -> None:
        self.frames += 1
        self._show()

    def skip(self, count: int) -> None:
        self.skipped += count
        self._show()

    def _show(self) -> None:
        rate = self.frames / max(time.monotonic() - self.started, 1e-9)
        self.task.update(self.frames + self.skipped, fps=rate)


def _photos(jobs: list[Job], pairs, max_side: int | None, max_pixels: int | None, progress: _Progress,
            failures: list[str]) -> Iterator[tuple[Job, dict]]:
    """Photos streamed through the frame loop like a video's frames, so a folder costs one runtime
    call per chunk of photos rather than one per photo; a photo that cannot be read is skipped."""
    from stylectl.pipelines.stylize.photos import read_photo, write_photo

    read: deque = deque()  # the photos handed to the loop and not yet written, in order

    def frames() -> Iterator:
        for job in jobs:
            try:
                photo = read_photo(job.source, max_side, max_pixels)
            except UserInputError as error:
                failures.append(str(error))
                progress.skip(1)
                continue
            read.append((job, photo))
            yield photo.rgb

    for _, stylized in pairs(frames()):
        job, photo = read.popleft()
        try:
            write_photo(job.target, stylized, photo.alpha)
        except OSError as error:  # an unwritable folder, a file where a folder should be, a full disk
            failures.append(_unwritable(job, error))
            progress.skip(1)
            continue
        progress.frame()
        height, width = stylized.shape[:2]
        yield job, {"frames": 1, "width": width, "height": height, "alpha": photo.alpha is not None}


def _video(job: Job, pairs, max_side: int | None, on_frame, reporter: Reporter, measure: bool) -> dict:
    from stylectl.pipelines.stylize.video import stylize_video

    if not measure:
        return _audio_warning(job, stylize_video(job.source, job.target, pairs, max_side, on_frame), reporter)
    from stylectl.pipelines.measure.flicker import WarpingErrorMeter

    meter = WarpingErrorMeter(clips=2)

    def measured(frames):
        for frame, output in pairs(frames):
            meter.add(frame, output, frame)  # and the input clip's own error: what the camera's motion leaves
            yield frame, output

    written = stylize_video(job.source, job.target, measured, max_side, on_frame)
    try:
        stylized, source = meter.values()
        written["warping_error"] = {"stylized": stylized, "input": source, "shot_cuts": meter.cuts}
    except ValueError as error:  # a one-frame clip has no motion to measure
        written["warping_error"] = {"not_measured": str(error)}
    return _audio_warning(job, written, reporter)


def _audio_warning(job: Job, written: dict, reporter: Reporter) -> dict:
    if written["audio_dropped"]:
        reporter.warn(f"{job.source}: its {written['audio_dropped']} audio was not copied "
                      f"({job.target.suffix} cannot hold it as it is)")
    return written
