"""Videos with PyAV (FFmpeg's libraries in the wheel): decode, stylize, encode H.264, copy the audio.

Streaming throughout: frames are decoded, stylized (frames.py, a chunk at a time) and encoded one
after another, and the audio packets are copied as the video reaches their time, so memory stays
flat however long the clip. The output is H.264 in yuv420p (what every phone and browser plays) in
an .mp4 (a .mov stays a .mov); it is written to a temp file and renamed at the end, so an
interrupted run (Ctrl-C, or SIGTERM from a scheduler: `_sigterm_raises`) leaves no half video.

Each frame keeps its source timestamp, so a variable-frame-rate clip (most phone clips) stays in
step with its audio; the rate reported is the average. A clip stored sideways with a rotation
(phones keep portrait video as landscape plus a display matrix) is turned upright before the
model sees it and written upright with no rotation, so every player shows it the same way.
"""

from __future__ import annotations

import os
import signal
import threading
from collections import deque
from contextlib import contextmanager
from fractions import Fraction
from itertools import chain
from pathlib import Path
from typing import Callable, Iterable, Iterator

import numpy as np

from stylectl.pipelines.artifacts import TMP_PREFIX
from stylectl.pipelines.errors import UserInputError
from stylectl.pipelines.train.interrupts import Interrupted

VIDEO_SUFFIXES = frozenset({".mp4", ".mov", ".webm", ".gif"})
CODEC, PIXEL_FORMAT = "libx264", "yuv420p"
# Audio codecs that mp4 and mov hold as they are; others (Vorbis in a webm) would need re-encoding.
COPYABLE_AUDIO = frozenset({"aac", "mp3", "opus", "ac3", "eac3", "alac", "flac"})

Pairs = Callable[[Iterable[np.ndarray]], Iterator[tuple[np.ndarray, np.ndarray]]]


def output_name(source: Path) -> str:
    """The output file's name: H.264 goes in .mp4, or .mov for a .mov source."""
    return source.with_suffix(".mov" if source.suffix.lower() == ".mov" else ".mp4").name


def frame_count(source: Path) -> int:
    """The number of frames the container declares (or its duration times its rate): the progress total."""
    import av

    try:
        with av.open(str(source)) as container:
            stream = _video_stream(container, source)
            if stream.frames:
                return stream.frames
            rate = stream.average_rate or stream.guessed_rate or 0
            return round(float(container.duration or 0) / 1e6 * float(rate))
    except av.FFmpegError as error:
        raise UserInputError(f"cannot read video {source}: {error}") from None


def stylize_video(source: Path, target: Path, pairs: Pairs, max_side: int | None,
                  on_frame: Callable[[], None]) -> dict:
    """Write the stylized clip to `target`; returns what was written (frames, average rate, size, audio)."""
    import av

    tmp = target.with_name(f"{TMP_PREFIX}{target.stem}.{os.getpid()}{target.suffix}")
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        with _sigterm_raises(target), av.open(str(source)) as video_in, av.open(str(source)) as audio_in:
            stream = _video_stream(video_in, source)
            decoded = video_in.decode(stream)
            first = next(decoded, None)
            if first is None:
                raise UserInputError(f"cannot read video {source}: its video stream has no frames")
            with av.open(str(tmp), "w") as out:
                written = _encode(first, decoded, stream, audio_in, out, pairs, max_side, on_frame)
        os.replace(tmp, target)
    except av.FFmpegError as error:
        raise UserInputError(f"cannot read video {source}: {error}") from None
    finally:
        tmp.unlink(missing_ok=True)
    return written


def _video_stream(container, source: Path):
    if not container.streams.video:
        raise UserInputError(f"cannot read video {source}: it has no video stream (audio only?)")
    return container.streams.video[0]


def _encode(first, decoded: Iterator, stream, audio_in, out, pairs: Pairs, max_side: int | None,
            on_frame: Callable[[], None]) -> dict:
    """Stylize and encode `first` and the rest of `decoded` at their source timestamps; the audio follows."""
    import av

    turns = round(first.rotation / 90) % 4  # rotation: the display matrix's counter-clockwise degrees
    width, height = _even_size(first.width, first.height, max_side)
    rate = stream.average_rate or stream.guessed_rate or Fraction(25)
    time_base = stream.time_base or 1 / Fraction(rate)
    encoder = out.add_stream(CODEC, rate=rate)
    encoder.width, encoder.height = (height, width) if turns % 2 else (width, height)
    encoder.pix_fmt, encoder.codec_context.time_base = PIXEL_FORMAT, time_base
    audio = _AudioCopy(audio_in, out)
    step = max(1, round(1 / (rate * time_base)))  # one average frame, in time_base units
    stamps: deque = deque()  # the timestamps of frames handed to `pairs` and not yet encoded

    def frames() -> Iterator[np.ndarray]:
        for frame in chain([first], decoded):
            stamps.append(frame.pts)
            yield np.ascontiguousarray(np.rot90(frame.to_ndarray(width=width, height=height, format="rgb24"), turns))

    count, last = 0, None
    for count, (_, stylized) in enumerate(pairs(frames()), 1):
        pts = stamps.popleft()
        if pts is None or (last is not None and pts <= last):  # no timestamp, or not after the last: H.264 needs order
            pts = step * (count - 1) if last is None else last + step
        frame = av.VideoFrame.from_ndarray(stylized, format="rgb24")
        frame.pts, frame.time_base, last = pts, time_base, pts
        out.mux(encoder.encode(frame))
        audio.copy_until(pts * time_base)
        on_frame()
    out.mux(encoder.encode(None))
    audio.copy_until(None)
    return {"frames": count, "fps": float(rate), "width": encoder.width, "height": encoder.height,
            "audio": audio.codec, "audio_dropped": audio.dropped}


@contextmanager
def _sigterm_raises(target: Path) -> Iterator[None]:
    """SIGTERM raises `Interrupted` (exit 143) within the block, so the temp file's `finally` runs.

    Python's default for SIGTERM ends the process at once, skipping every `finally`: a scheduler
    stopping a job would leave a half-written temp file beside the outputs. Only the default is
    replaced (a handler someone set, or SIG_IGN under nohup, stays), and only in the main thread,
    the one place signal handlers can be set; the old handler is back after the block.
    """
    if threading.current_thread() is not threading.main_thread() or \
            signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
        yield
        return

    def stop(number: int, frame) -> None:
        raise Interrupted(f"stopped by SIGTERM while writing {target} (not written)", number)

    signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)


def _even_size(width: int, height: int, max_side: int | None) -> tuple[int, int]:
    """The output size: shrunk to max_side, then even (yuv420p stores colour per 2x2 pixels)."""
    scale = min(1.0, max_side / max(width, height)) if max_side else 1.0
    return max(2, round(width * scale) // 2 * 2), max(2, round(height * scale) // 2 * 2)


class _AudioCopy:
    """The source's first audio stream, its packets muxed unchanged as the video reaches their time,
    so the output's streams stay interleaved without holding either in memory."""

    def __init__(self, container, out) -> None:
        streams = container.streams.audio
        codec = streams[0].codec_context.name if streams else None
        source = streams[0] if codec in COPYABLE_AUDIO else None
        self.codec, self.dropped = (codec, None) if source else (None, codec)
        self.out = out
        self.stream = out.add_stream_from_template(source) if source else None
        self.packets = (packet for packet in container.demux(source) if packet.dts is not None) if source else iter(())
        self.pending = next(self.packets, None)

    def copy_until(self, seconds: float | None) -> None:
        """Mux every packet that starts before `seconds` (None: all that remain)."""
        while self.pending is not None and (seconds is None or self.pending.dts * self.pending.time_base < seconds):
            self.pending.stream = self.stream
            self.out.mux(self.pending)
            self.pending = next(self.packets, None)
