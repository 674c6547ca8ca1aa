"""The one per-frame loop of photos and videos: frames in, (input, stylized) pairs out.

Photos and videos both come through here, so whatever is done per frame (the stroke scale, the
model, the look, a later per-frame measurement such as flicker) is done in one place. Frames are
taken `CHUNK` at a time, fewer when they are large (`CHUNK_PIXELS`): one runtime call per chunk (a
session costs more than a small frame), and memory stays bounded however long the video or big the
folder. A photo over tiles.LARGE_PIXELS goes alone, streamed in rows of tiles.
"""

from __future__ import annotations

from typing import Iterable, Iterator

import numpy as np
import torch

from stylectl.pipelines.stylize.guided import guided_upsample, shrink
from stylectl.pipelines.stylize.look import Look
from stylectl.pipelines.stylize.model import StyleModel
from stylectl.pipelines.stylize.tiles import LARGE_PIXELS, stylize_images, stylize_large

CHUNK = 8
CHUNK_PIXELS = 8_000_000  # a chunk stops growing past this many pixels (eight 1080p frames are 16.6 M)


def stylize_frames(model: StyleModel, frames: Iterable[np.ndarray], look: Look,
                   chunk: int = CHUNK) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Yield (input, stylized) for each HxWx3 uint8 RGB frame, in order. With a stroke scale above 1
    the model sees the frame shrunk that many times and its output is guided back up (guided.py)."""
    scale = look.stroke_scale
    seen = ((frame, shrink(frame, scale) if scale > 1 else frame) for frame in frames)
    for (frame, small), stylized in _through_model(model, seen, chunk):
        if small is not frame:
            stylized = guided_upsample(frame, small, stylized)
        yield frame, look.apply(frame, stylized)


def _through_model(model: StyleModel, pairs: Iterable[tuple[np.ndarray, np.ndarray]],
                   chunk: int) -> Iterator[tuple[tuple[np.ndarray, np.ndarray], np.ndarray]]:
    """Each (frame, what the model sees) with the model's uint8 output for the second."""
    for group in _chunks(pairs, chunk):
        seen = [small for _, small in group]
        if len(group) == 1 and _pixels(seen[0]) > LARGE_PIXELS:
            yield group[0], stylize_large(model.run, seen[0], model.input_size)
            continue
        inputs = [torch.tensor(frame).permute(2, 0, 1).float().div(255) for frame in seen]
        for pair, output in zip(group, stylize_images(model.run, inputs, model.input_size)):
            yield pair, output.mul(255).round().byte().permute(1, 2, 0).contiguous().numpy()


def _chunks(pairs: Iterable[tuple[np.ndarray, np.ndarray]], chunk: int) -> Iterator[list]:
    """Consecutive pairs, at most `chunk` and about CHUNK_PIXELS (of what the model sees) at a time;
    a large photo alone."""
    group, pixels = [], 0
    for pair in pairs:
        size = _pixels(pair[1])
        if group and (len(group) == chunk or pixels + size > CHUNK_PIXELS or size > LARGE_PIXELS):
            yield group
            group, pixels = [], 0
        group.append(pair)
        pixels += size
    if group:
        yield group


def _pixels(frame: np.ndarray) -> int:
    return frame.shape[0] * frame.shape[1]
