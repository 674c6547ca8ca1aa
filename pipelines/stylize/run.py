"""`stylectl stylize`: every source file through one model, with progress, a summary and failures
that do not stop the others.

A file that cannot be read or decoded is recorded and skipped; the command still writes every other
output, then fails with one line per bad file (exit 2). Outputs are written atomically, so nothing
half-written is left under a real name.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from stylectl.pipelines.errors import UserInputError
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


def plan_jobs(sources: list[Path], out: Path) -> tuple[list[Job], list[str]]:
    """One job per photo or video: a folder's files (recursively) keep their path relative to the
    folder, a file given directly goes to OUT/its name; also the sources that are no photo or video."""
    from stylectl.pipelines.stylize.video import output_name

    jobs, problems = [], []
    for source in sources:
        if source.is_dir():
            found = sorted(path for path in source.rglob("*") if path.is_file() and _kind(path)
                           and not any(part.startswith(".") for part in path.relative_to(source).parts))
            pairs = [(path, path.relative_to(source)) for path in found]
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
    return jobs, problems


def _kind(path: Path) -> str | None:
    suffix = path.suffix.lower()
    return "photo" if suffix in PHOTO_SUFFIXES else "video" if suffix in VIDEO_SUFFIXES else None


def stylize_all(jobs: list[Job], model: StyleModel, look: Look, max_side: int | None,
                reporter: Reporter) -> dict:
    """Run every job; returns the summary (outputs, failures, frames, seconds, frames/s)."""
    from stylectl.pipelines.stylize.frames import stylize_frames
    from stylectl.pipelines.stylize.video import frame_count

    outputs, failures, totals = [], [], {}
    for job in jobs:
        try:
            totals[job] = frame_count(job.source) if job.kind == "video" else 1
        except UserInputError as error:
            failures.append(str(error))
    pairs = partial(stylize_frames, model, look=look)
    started, done, skipped = time.monotonic(), 0, 0  # frames written; frames of failed files (for the bar)

    with reporter.task("stylize (frames)", max(1, sum(totals.values()))) as task:
        def tick() -> None:
            nonlocal done
            done += 1
            task.update(done + skipped, fps=done / max(time.monotonic() - started, 1e-9))

        for job in totals:
            job_started, frames_before = time.monotonic(), done
            try:
                written = _photo(job, pairs, max_side, tick) if job.kind == "photo" else \
                    _video(job, pairs, max_side, tick, reporter)
            except UserInputError as error:
                failures.append(str(error))
                skipped += max(0, totals[job] - (done - frames_before))
                task.update(done + skipped)
                continue
            outputs.append({"source": str(job.source), "output": str(job.target), "kind": job.kind,
                            "frames": done - frames_before, "seconds": round(time.monotonic() - job_started, 3),
                            **written})
    seconds = time.monotonic() - started
    return {"model": model.describe(), "strength": look.strength, "preserve_color": look.preserve_color,
            "outputs": outputs, "failures": failures, "frames": done, "seconds": round(seconds, 3),
            "frames_per_second": done / seconds if seconds > 0 else None}


def _photo(job: Job, pairs, max_side: int | None, tick) -> dict:
    from stylectl.pipelines.stylize.photos import read_photo, write_photo

    photo = read_photo(job.source, max_side)
    [(_, stylized)] = pairs([photo.rgb])
    write_photo(job.target, stylized, photo.alpha)
    tick()
    height, width = stylized.shape[:2]
    return {"width": width, "height": height, "alpha": photo.alpha is not None}


def _video(job: Job, pairs, max_side: int | None, tick, reporter: Reporter) -> dict:
    from stylectl.pipelines.stylize.video import stylize_video

    written = stylize_video(job.source, job.target, pairs, max_side, tick)
    if written["audio_dropped"]:
        reporter.warn(f"{job.source}: its {written['audio_dropped']} audio was not copied "
                      f"({job.target.suffix} cannot hold it as it is)")
    return written
