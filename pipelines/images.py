"""Read any image a camera or editor writes as the picture a viewer shows: upright, 8-bit sRGB.

Every image the chain reads goes through `open_image`: photos to stylize, style paintings, training
and held-out photos. What it takes care of, and why:

- Size first: the header's width and height are checked against a pixel cap *before* decoding,
  so a small file declaring 9000x9000 costs nothing (Pillow's own bomb check only stops at 179 MP).
- EXIF orientation (ImageOps.exif_transpose): phones store portraits as rotated landscapes.
- Bit depth: 16-bit and 32-bit grey ("I;16", "I") and float ("F") pixels are scaled to 8 bits.
  Pillow's plain conversion to RGB clips them at 255, which turns a 16-bit grey photo white.
- Colour: an embedded ICC profile (Display P3, Adobe RGB, a CMYK press profile, a grey gamma) is
  converted to sRGB with ImageCms, since the models were trained on sRGB photos; CMYK and LAB
  without a profile use Pillow's conversions.
- Transparency (alpha, a palette's transparent index) is returned separately, so a stylized copy
  can carry it again.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageCms, ImageOps, UnidentifiedImageError

from stylectl.pipelines.errors import UserInputError

# 50 megapixels: a 48 MP phone photo (8064x6048) passes; its decoded RGB is 146 MB.
DEFAULT_MAX_PIXELS = 50_000_000
_HIGH_DEPTH = ("I;16", "I;16B", "I;16L", "I;16N", "I", "F")


@dataclass(frozen=True)
class Picture:
    rgb: Image.Image  # mode RGB, 8-bit sRGB, upright
    alpha: Image.Image | None  # mode L, the image's transparency, when it has any


def open_image(path: Path, max_pixels: int | None = DEFAULT_MAX_PIXELS, over_cap_hint: str = "shrink it first") -> Picture:
    """The image at `path`, upright, in 8-bit sRGB, with its alpha apart; UserInputError naming the
    file when it cannot be read or declares more than `max_pixels` (None: no cap), ending with
    `over_cap_hint`."""
    try:
        with Image.open(path) as opened:
            _check_size(path, opened.size, max_pixels, over_cap_hint)
            opened.load()
            profile = opened.info.get("icc_profile")
            image = ImageOps.exif_transpose(opened)
    # SyntaxError and ValueError: some decoders report corrupt headers with them.
    except (OSError, SyntaxError, ValueError, UnidentifiedImageError, Image.DecompressionBombError) as error:
        raise UserInputError(f"cannot read image {path}: {error}") from None
    alpha = _alpha(image)
    return Picture(_to_srgb(_eight_bit(image), profile), alpha)


def _check_size(path: Path, size: tuple[int, int], max_pixels: int | None, hint: str) -> None:
    width, height = size
    if max_pixels is not None and width * height > max_pixels:
        raise UserInputError(f"image {path} is {width}x{height} ({width * height / 1e6:.1f} MP), over the "
                             f"{max_pixels / 1e6:g} MP limit; {hint}")


def _alpha(image: Image.Image) -> Image.Image | None:
    if image.mode in ("RGBA", "LA", "PA", "La", "RGBa") or "transparency" in image.info:
        return image.convert("RGBA").getchannel("A")
    return None


def _eight_bit(image: Image.Image) -> Image.Image:
    """Grey or float pixels deeper than 8 bits as 8-bit grey, scaled rather than clipped."""
    if image.mode not in _HIGH_DEPTH:
        return image
    pixels = np.asarray(image, dtype=np.float64)
    if image.mode == "F":
        top = 1.0 if pixels.size and np.nanmax(pixels) <= 1.0 else 255.0  # float images store 0-1 or 0-255
    else:
        top = 65535.0 if image.mode.startswith("I;16") or (pixels.size and pixels.max() > 255) else 255.0
    scaled = np.nan_to_num(pixels / top * 255.0).clip(0, 255).round().astype(np.uint8)
    return Image.fromarray(scaled, mode="L")


def _to_srgb(image: Image.Image, profile: bytes | None) -> Image.Image:
    if profile:
        source = image if image.mode in ("RGB", "CMYK", "L", "LAB") else image.convert("RGB")
        try:
            return ImageCms.profileToProfile(source, ImageCms.ImageCmsProfile(io.BytesIO(profile)),
                                             ImageCms.createProfile("sRGB"), outputMode="RGB")
        except (ImageCms.PyCMSError, OSError, ValueError):  # a broken or mismatched profile: the pixels are still a picture
            pass
    if image.mode == "LAB":
        return ImageCms.profileToProfile(image, ImageCms.createProfile("LAB"), ImageCms.createProfile("sRGB"),
                                         outputMode="RGB")
    return image.convert("RGB")
