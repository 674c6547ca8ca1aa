"""The one per-frame loop of photos and videos: frames in, (input, stylized) pairs out.

Photos and videos both come through here, so whatever is done per frame (the model, the look, a
later per-frame measurement such as flicker) is done in one place. Frames are taken `CHUNK` at
a time: one runtime call per chunk (a session costs more than a small frame), and memory stays
bounded however long the video.
"""

from __future__ import annotations

from itertools import islice
from typing import Iterable, Iterator

import numpy as np
import torch

from stylectl.pipelines.stylize.look import Look
from stylectl.pipelines.stylize.model import StyleModel
from stylectl.pipelines.stylize.tiles import stylize_images

CHUNK = 8


def stylize_frames(model: StyleModel, frames: Iterable[np.ndarray], look: Look,
                   chunk: int = CHUNK) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Yield (input, stylized) for each HxWx3 uint8 RGB frame, in order."""
    source = iter(frames)
    while group := list(islice(source, chunk)):
        inputs = [torch.tensor(frame).permute(2, 0, 1).float().div(255) for frame in group]
        outputs = stylize_images(model.run, inputs, model.input_size)
        for frame, output in zip(group, outputs):
            stylized = output.mul(255).round().byte().permute(1, 2, 0).contiguous().numpy()
            yield frame, look.apply(frame, stylized)
