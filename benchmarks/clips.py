"""Test clips the benchmarks make themselves: a pan across a still photo, written with PyAV."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np


def write_pan(path: Path, scene: np.ndarray, size: tuple[int, int], frames: int, rate: int,
              tone: bool = False) -> None:
    """An H.264 clip of `frames` windows of `size` (width, height) moving diagonally across `scene`
    (HxWx3 uint8, at least `size`), corner to corner; `tone` adds a 440 Hz AAC track as long."""
    import av

    width, height = size
    with av.open(str(path), "w") as container:
        video = container.add_stream("libx264", rate=rate)
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        sound = container.add_stream("aac", rate=44100) if tone else None
        for index in range(frames):
            left = round(index * (scene.shape[1] - width) / (frames - 1))
            top = round(index * (scene.shape[0] - height) / (frames - 1))
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(scene[top:top + height, left:left + width]),
                                               format="rgb24")
            frame.pts, frame.time_base = index, Fraction(1, rate)
            container.mux(video.encode(frame))
        container.mux(video.encode(None))
        if sound is not None:
            samples = 44100 * frames // rate
            wave = (0.2 * np.sin(2 * np.pi * 440 * np.arange(samples) / 44100)).astype(np.float32)
            for start in range(0, wave.size, 1024):
                chunk = av.AudioFrame.from_ndarray(wave[None, start:start + 1024].copy(), format="fltp", layout="mono")
                chunk.sample_rate, chunk.pts = 44100, start
                container.mux(sound.encode(chunk))
            container.mux(sound.encode(None))
