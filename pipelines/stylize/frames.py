"""The one per-frame loop of photos and videos: frames in, (input, stylized) pairs out.

Photos and videos both come through here, so whatever is done per frame (the model, the look, a
later per-frame measurement such as flicker) is done in one place. Frames are taken `CHUNK` at
a time, fewer when they are large (`CHUNK_PIXELS`): one runtime call per chunk (a session costs
more than a small frame), and memory stays bounded however long the video or big the folder. A
photo over tiles.LARGE_PIXELS goes alone, streamed in rows of tiles.
"""

from __future__ import annotations

from typing import Iterable, Iterator

import numpy as np
import torch

from stylectl.pipelines.stylize.look import Look
from stylectl.pipelines.stylize.model import StyleModel
from stylectl.pipelines.stylize.tiles import LARGE_PIXELS, stylize_images, stylize_large

CHUNK = 8
CHUNK_PIXELS = 8_000_000  # a chunk stops growing past this many pixels (eight 1080p frames are 16.6 M)


def stylize_frames(model: StyleModel, frames: Iterable[np.ndarray], look: Look,
                   chunk: int = CHUNK) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Yield (input, stylized) for each HxWx3 uint8 RGB frame, in order."""
    for group in _chunks(frames, chunk):
        if len(group) == 1 and _pixels(group[0]) > LARGE_PIXELS:
            yield group[0], look.apply(group[0], stylize_large(model.run, group[0], model.input_size))
            continue
        inputs = [torch.tensor(frame).permute(2, 0, 1).float().div(255) for frame in group]
        outputs = stylize_images(model.run, inputs, model.input_size)
        for frame, output in zip(group, outputs):
            stylized = output.mul(255).round().byte().permute(1, 2, 0).contiguous().numpy()
            yield frame, look.apply(frame, stylized)


def _chunks(frames: Iterable[np.ndarray], chunk: int) -> Iterator[list[np.ndarray]]:
    """Consecutive frames, at most `chunk` and about CHUNK_PIXELS at a time; a large photo alone."""
    group, pixels = [], 0
    for frame in frames:
        if group and (len(group) == chunk or pixels + _pixels(frame) > CHUNK_PIXELS or _pixels(frame) > LARGE_PIXELS):
            yield group
            group, pixels = [], 0
        group.append(frame)
        pixels += _pixels(frame)
    if group:
        yield group


def _pixels(frame: np.ndarray) -> int:
    return frame.shape[0] * frame.shape[1]
