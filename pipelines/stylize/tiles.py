"""Fit images of any size to a model: pad to its multiple, or cut into overlapping tiles.

A fixed-size file (the usual export: 1x3xSxS) only takes S x S images, so a larger photo is cut
into S x S tiles that overlap by `OVERLAP` pixels; each output pixel is the weighted mean of the
tiles covering it, weights falling linearly towards each tile's edge, so no seam shows where the
convolutions saw different borders. A smaller image is padded up (edge pixels repeated) and cut
back. A dynamic-size file gets the whole image, padded to `MULTIPLE`.

A large photo (over `LARGE_PIXELS`) is streamed instead (`stylize_large`): one row of tiles at a
time, a few tiles per runtime call, blended into a rolling band one tile high and written out as
8-bit rows as soon as no later tile covers them. Memory then grows with the photo's width, not its
area: the 8-bit input and output are the only whole-photo arrays (a 24 MP photo stylized in one
piece would hold gigabytes of activations). A dynamic-size file is tiled at `LARGE_TILE` there.
"""

from __future__ import annotations

import math
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

# The students and teachers downsample by 4 (8 with a low-resolution stage): a multiple of 8
# suits every network the chain builds.
MULTIPLE = 8
OVERLAP = 32  # pixels shared by neighbouring tiles (at most a quarter of a tile): wider than the seams convs leave

LARGE_PIXELS = 4_000_000  # above this, a photo is streamed in tile rows (a 1080p frame stays whole)
LARGE_TILE = 1024  # the tile a dynamic-size file gets in a large photo
TILES_PER_CALL = 8  # tiles per runtime call when streaming: few enough to stay small, enough to amortise a call

Run = Callable[[torch.Tensor], torch.Tensor]


def stylize_images(run: Run, images: list[torch.Tensor], input_size: tuple[int, int] | None) -> list[torch.Tensor]:
    """Outputs [3,H,W] in [0, 1] for images [3,H,W] of any sizes; with a fixed `input_size`, all
    tiles of all images go through one `run` call (a runtime session costs more than a tile)."""
    if input_size is None:
        return [_padded(run, image) for image in images]
    plans = [_tiling(image, input_size) for image in images]
    outputs = run(torch.cat([tiles for tiles, _ in plans])).clamp(0, 1)
    results, start = [], 0
    for image, (tiles, boxes) in zip(images, plans):
        results.append(_blend(outputs[start:start + len(tiles)], boxes, image.shape[1:], input_size))
        start += len(tiles)
    return results


def stylize_large(run: Run, rgb: np.ndarray, input_size: tuple[int, int] | None) -> np.ndarray:
    """The HxWx3 uint8 output for a large HxWx3 uint8 photo, streamed row of tiles by row (see above)."""
    tile_h, tile_w = input_size or (LARGE_TILE, LARGE_TILE)
    height, width = rgb.shape[:2]
    tall, wide = max(height, tile_h), max(width, tile_w)
    weight = _ramp(tile_h)[:, None] * _ramp(tile_w)[None, :]
    band, band_weight = torch.zeros(3, tile_h, wide), torch.zeros(1, tile_h, wide)
    output, band_top, lefts = np.empty_like(rgb), 0, _starts(wide, tile_w)
    for top in _starts(tall, tile_h):
        _flush(output, band, band_weight, band_top, top)
        shift = top - band_top
        band, band_weight, band_top = band.roll(-shift, 1), band_weight.roll(-shift, 1), top
        band[:, tile_h - shift:], band_weight[:, tile_h - shift:] = 0, 0
        for first in range(0, len(lefts), TILES_PER_CALL):
            group = lefts[first:first + TILES_PER_CALL]
            tiles = torch.stack([_tile(rgb, top, left, tile_h, tile_w) for left in group])
            for result, left in zip(run(tiles).clamp(0, 1), group):
                band[:, :, left:left + tile_w] += result * weight
                band_weight[:, :, left:left + tile_w] += weight
    _flush(output, band, band_weight, band_top, tall)
    return output


def _tile(rgb: np.ndarray, top: int, left: int, tile_h: int, tile_w: int) -> torch.Tensor:
    """One [3,tile_h,tile_w] float tile; past the photo's bottom or right edge, edge pixels repeat."""
    piece = torch.tensor(rgb[top:top + tile_h, left:left + tile_w])  # a copy: the photo may be read-only
    return _pad_to(piece.permute(2, 0, 1).float().div(255), tile_h, tile_w)


def _flush(output: np.ndarray, band: torch.Tensor, band_weight: torch.Tensor, band_top: int, until: int) -> None:
    """Write the band's rows above `until` (no later tile reaches them) to the 8-bit output."""
    rows = min(until, output.shape[0]) - band_top
    if rows > 0:
        done = (band[:, :rows, :output.shape[1]] / band_weight[:, :rows, :output.shape[1]])
        output[band_top:band_top + rows] = done.mul(255).round().byte().permute(1, 2, 0).numpy()


def _padded(run: Run, image: torch.Tensor) -> torch.Tensor:
    height, width = image.shape[1:]
    padded = _pad_to(image, math.ceil(height / MULTIPLE) * MULTIPLE, math.ceil(width / MULTIPLE) * MULTIPLE)
    return run(padded[None])[0, :, :height, :width].clamp(0, 1)


def _pad_to(image: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Pad bottom and right by repeating edge pixels (reflection needs more pixels than a tiny image has)."""
    extra_h, extra_w = height - image.shape[1], width - image.shape[2]
    if extra_h <= 0 and extra_w <= 0:
        return image
    return F.pad(image[None], (0, max(0, extra_w), 0, max(0, extra_h)), mode="replicate")[0]


def _overlap(tile: int) -> int:
    return min(OVERLAP, tile // 4)


def _starts(length: int, tile: int) -> list[int]:
    """Tile offsets along one side: first at 0, last flush with the end, neighbours overlapping by
    at least the overlap (the side is padded up to one tile when shorter)."""
    if length <= tile:
        return [0]
    count = math.ceil((length - _overlap(tile)) / (tile - _overlap(tile)))
    return sorted({round(index * (length - tile) / (count - 1)) for index in range(count)})


def _tiling(image: torch.Tensor, size: tuple[int, int]) -> tuple[torch.Tensor, list[tuple[int, int]]]:
    tile_h, tile_w = size
    padded = _pad_to(image, tile_h, tile_w)
    boxes = [(top, left) for top in _starts(padded.shape[1], tile_h) for left in _starts(padded.shape[2], tile_w)]
    return torch.stack([padded[:, top:top + tile_h, left:left + tile_w] for top, left in boxes]), boxes


def _ramp(length: int) -> torch.Tensor:
    """1 in the middle, falling linearly over the overlap to a small positive value at each end."""
    position = torch.arange(length, dtype=torch.float32) + 0.5
    return torch.minimum(position, length - position).div(_overlap(length)).clamp(1e-3, 1.0)


def _blend(outputs: torch.Tensor, boxes: list[tuple[int, int]], shape, size: tuple[int, int]) -> torch.Tensor:
    tile_h, tile_w = size
    height, width = max(shape[0], tile_h), max(shape[1], tile_w)
    weight = _ramp(tile_h)[:, None] * _ramp(tile_w)[None, :]
    total = torch.zeros(3, height, width)
    weights = torch.zeros(1, height, width)
    for output, (top, left) in zip(outputs, boxes):
        total[:, top:top + tile_h, left:left + tile_w] += output * weight
        weights[:, top:top + tile_h, left:left + tile_w] += weight
    return (total / weights)[:, :shape[0], :shape[1]]
