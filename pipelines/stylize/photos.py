"""Read a photo the way a viewer shows it, and write its stylized copy without losing what the model
does not touch.

- EXIF orientation is applied (ImageOps.exif_transpose): phones store portraits as rotated landscapes.
- A photo with an ICC profile is converted to sRGB (ImageCms) before the model sees it, and the output
  is written as untagged sRGB: the model was trained on sRGB photos, and a Display P3 or Adobe RGB
  photo fed as-is would be stylized from the wrong colours. Keeping the profile instead would attach
  it to pixels that are no longer in its space.
- Transparency is split off before the model and re-attached to its output.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageCms, ImageOps

from stylectl.pipelines.artifacts import write_atomic
from stylectl.pipelines.errors import UserInputError

PHOTO_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"})
JPEG_QUALITY = 95


@dataclass(frozen=True)
class Photo:
    rgb: np.ndarray  # HxWx3 uint8, sRGB, upright
    alpha: Image.Image | None  # the photo's transparency, if it has any


def read_photo(path: Path, max_side: int | None) -> Photo:
    """The photo upright, in sRGB, shrunk so its longest side <= max_side; UserInputError naming
    the file when it cannot be read."""
    try:
        with Image.open(path) as opened:
            opened.load()
            image = ImageOps.exif_transpose(opened)
            profile = opened.info.get("icc_profile")
    except (OSError, SyntaxError, Image.DecompressionBombError) as error:  # SyntaxError: some corrupt headers
        raise UserInputError(f"cannot read image {path}: {error}") from None
    has_alpha = image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info
    alpha = image.convert("RGBA").getchannel("A") if has_alpha else None
    rgb = _to_srgb(image, profile)
    if max_side is not None and max(rgb.size) > max_side:
        scale = max_side / max(rgb.size)
        size = tuple(max(1, round(side * scale)) for side in rgb.size)
        rgb = rgb.resize(size, Image.Resampling.LANCZOS)
        alpha = alpha.resize(size, Image.Resampling.LANCZOS) if alpha else None
    return Photo(np.asarray(rgb), alpha)


def _to_srgb(image: Image.Image, profile: bytes | None) -> Image.Image:
    if not profile:
        return image.convert("RGB")
    source = image if image.mode in ("RGB", "CMYK", "L") else image.convert("RGB")
    try:
        return ImageCms.profileToProfile(source, ImageCms.ImageCmsProfile(io.BytesIO(profile)),
                                         ImageCms.createProfile("sRGB"), outputMode="RGB")
    except (ImageCms.PyCMSError, OSError):  # a broken profile: the pixels are still a picture
        return image.convert("RGB")


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
    write_atomic(path, buffer.getvalue())
