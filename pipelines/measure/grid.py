"""Image grids a person can look at: one row per photo, one column per model."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw

from stylectl.pipelines.artifacts import write_atomic

LABEL_HEIGHT = 14


def save_grid(columns: dict[str, torch.Tensor], path: Path, palette: bool = False) -> None:
    """Write a PNG: each value is a [N,3,H,W] batch in [0,1]; keys label the columns. `palette`
    stores 256 colours instead of full RGB: about a third of the bytes, for grids kept in git."""
    batches = list(columns.values())
    rows = [torch.cat([batch[index] for batch in batches], dim=2) for index in range(batches[0].shape[0])]
    pixels = (torch.cat(rows, dim=1).clamp(0, 1).permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
    width = batches[0].shape[-1]
    canvas = Image.new("RGB", (pixels.shape[1], pixels.shape[0] + LABEL_HEIGHT), "white")
    canvas.paste(Image.fromarray(pixels), (0, LABEL_HEIGHT))
    draw = ImageDraw.Draw(canvas)
    for index, label in enumerate(columns):
        draw.text((index * width + 3, 1), label, fill="black")
    if palette:
        canvas = canvas.quantize(256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    buffer = io.BytesIO()
    canvas.save(buffer, format="PNG", optimize=palette)
    write_atomic(path, buffer.getvalue())
