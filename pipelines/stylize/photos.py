"""Read a photo for the model and write its stylized copy without losing what the model does not touch.

Reading goes through pipelines/images.py (upright, 8-bit sRGB, pixel cap before decoding); the
output is written as untagged sRGB, since keeping a source's profile would attach it to pixels no
longer in its space. Transparency is split off before the model and re-attached to its output.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from stylectl.pipelines.artifacts import write_atomic
from stylectl.pipelines.images import DEFAULT_MAX_PIXELS, open_image

PHOTO_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"})
JPEG_QUALITY = 95


@dataclass(frozen=True)
class Photo:
    rgb: np.ndarray  # HxWx3 uint8, sRGB, upright
    alpha: Image.Image | None  # the photo's transparency, if it has any


def read_photo(path: Path, max_side: int | None, max_pixels: int | None = DEFAULT_MAX_PIXELS) -> Photo:
    """The photo upright, in sRGB, shrunk so its longest side <= max_side; UserInputError naming
    the file when it cannot be read or is over `max_pixels`."""
    picture = open_image(path, max_pixels, "pass --max-pixels to allow it")
    rgb, alpha = picture.rgb, picture.alpha
    if max_side is not None and max(rgb.size) > max_side:
        scale = max_side / max(rgb.size)
        size = tuple(max(1, round(side * scale)) for side in rgb.size)
        rgb = rgb.resize(size, Image.Resampling.LANCZOS)
        alpha = alpha.resize(size, Image.Resampling.LANCZOS) if alpha else None
    return Photo(np.asarray(rgb), alpha)


def write_photo(path: Path, rgb: np.ndarray, alpha: Image.Image | None) -> None:
    """Write atomically in the format the suffix names, with the photo's transparency re-attached."""
    image = Image.fromarray(rgb)
    if alpha is not None:
        image.putalpha(alpha)
    options = {"quality": JPEG_QUALITY} if path.suffix.lower() in (".jpg", ".jpeg") else {}
    if image.mode == "RGBA" and path.suffix.lower() in (".jpg", ".jpeg", ".bmp"):
        image = image.convert("RGB")  # formats without transparency
    buffer = io.BytesIO()
    image.save(buffer, format=Image.registered_extensions()[path.suffix.lower()], **options)
    write_atomic(path, buffer.getbuffer())  # no second copy of a large encoded photo
