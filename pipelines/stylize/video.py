"""Videos with PyAV (FFmpeg's libraries in the wheel): decode, stylize, encode H.264, copy the audio.

Streaming throughout: frames are decoded, stylized (frames.py, a chunk at a time) and encoded one
after another, and the audio packets are copied as the video reaches their time, so memory stays
flat however long the clip. The output is H.264 in yuv420p (what every phone and browser plays) at
the source's frame rate, in an .mp4 (a .mov stays a .mov); it is written to a temp file and
renamed at the end, so an interrupted run leaves no half video under the real name.
"""

from __future__ import annotations

import os
from fractions import Fraction
from pathlib import Path
from typing import Callable, Iterable, Iterator

import numpy as np

from stylectl.pipelines.artifacts import TMP_PREFIX
from stylectl.pipelines.errors import UserInputError

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
            stream = container.streams.video[0]
            if stream.frames:
                return stream.frames
            rate = stream.average_rate or stream.guessed_rate or 0
            return round(float(container.duration or 0) / 1e6 * float(rate))
    except (av.FFmpegError, IndexError) as error:
        raise UserInputError(f"cannot read video {source}: {error or 'no video stream'}") from None


def stylize_video(source: Path, target: Path, pairs: Pairs, max_side: int | None,
                  on_frame: Callable[[], None]) -> dict:
    """Write the stylized clip to `target`; returns what was written (frames, rate, size, audio)."""
    import av

    tmp = target.with_name(f"{TMP_PREFIX}{target.stem}.{os.getpid()}{target.suffix}")
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        with av.open(str(source)) as video_in, av.open(str(source)) as audio_in, av.open(str(tmp), "w") as out:
            stream = video_in.streams.video[0]
            rate = stream.average_rate or stream.guessed_rate or Fraction(25)
            width, height = _even_size(stream.codec_context.width, stream.codec_context.height, max_side)
            encoder = out.add_stream(CODEC, rate=rate)
            encoder.width, encoder.height, encoder.pix_fmt = width, height, PIXEL_FORMAT
            encoder.codec_context.time_base = 1 / Fraction(rate)
            audio = _AudioCopy(audio_in, out)
            frames = (frame.to_ndarray(width=width, height=height, format="rgb24") for frame in video_in.decode(stream))
            count = 0
            for count, (_, stylized) in enumerate(pairs(frames), 1):
                frame = av.VideoFrame.from_ndarray(stylized, format="rgb24")
                frame.pts, frame.time_base = count - 1, encoder.codec_context.time_base
                out.mux(encoder.encode(frame))
                audio.copy_until(count / rate)
                on_frame()
            out.mux(encoder.encode(None))
            audio.copy_until(None)
        os.replace(tmp, target)
    except (av.FFmpegError, IndexError) as error:
        raise UserInputError(f"cannot read video {source}: {error or 'no video stream'}") from None
    finally:
        tmp.unlink(missing_ok=True)
    return {"frames": count, "fps": float(rate), "width": width, "height": height, "audio": audio.codec,
            "audio_dropped": audio.dropped}


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
