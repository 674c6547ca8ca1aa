"""Content photos and style images: where they are, how they split, how they load.

Everything the chain learns from or is judged on goes through here, so that a build is
reproducible from its config alone: the built-in photos ship inside stylectl and in wheels
that are already installed (no network), a user folder splits the same way every time, and
the set's fingerprint feeds the stage cache key. Training crops and the Lightning
DataModule live in ``datamodule.py``.
"""

from __future__ import annotations

import hashlib
import importlib.resources
import importlib.util
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from stylectl.pipelines.assets import BUILTIN_CONTENT, BUILTIN_PREFIX, BUILTIN_STYLES
from stylectl.pipelines.errors import StylectlError, UserInputError
from stylectl.pipelines.images import open_image


# Colour photos that ship inside wheels the project already depends on: (package, file
# inside the package). Located on disk rather than through skimage.data, which may fetch
# from the network and imports all of skimage.
BUILTIN_PHOTOS: dict[str, tuple[str, str]] = {
    "astronaut": ("skimage", "data/astronaut.png"),
    "chelsea": ("skimage", "data/chelsea.png"),
    "coffee": ("skimage", "data/coffee.png"),
    "rocket": ("skimage", "data/rocket.jpg"),
    "motorcycle_left": ("skimage", "data/motorcycle_left.png"),
    "motorcycle_right": ("skimage", "data/motorcycle_right.png"),
    "china": ("sklearn", "datasets/images/china.jpg"),
    "flower": ("sklearn", "datasets/images/flower.jpg"),
    "grace_hopper": ("matplotlib", "mpl-data/sample_data/grace_hopper.jpg"),
}
# Never trained on: an animal, a landscape with architecture and a portrait, so evaluation
# covers fur, foliage and skin. The motorcycle stereo pair is nearly one photo twice, so
# both halves stay on the training side.
HELDOUT_PHOTOS = ("chelsea", "china", "grace_hopper")

ASSETS = "stylectl.pipelines.assets"
# Over a hundred more training photos shipped as package data (assets/photos/PROVENANCE.md):
# six photos alone let a student memorize them instead of learning the style's mapping.
SHIPPED_PHOTOS = "photos"

CONTENT_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp"})


@dataclass(frozen=True)
class ImageSet:
    """Training photos and the held-out photos that evaluation uses and training never sees."""

    train: tuple[Path, ...]
    heldout: tuple[Path, ...]

    def fingerprint(self) -> str:
        """Digest of the split, file names and file bytes: it goes into stage cache keys.

        Absolute paths are left out so the same photos give the same key on any machine;
        bytes are in so an edited photo invalidates every stage trained on it.
        """
        entries = sorted(
            (split, path.name, _file_sha256(path))
            for split, paths in (("train", self.train), ("heldout", self.heldout))
            for path in paths
        )
        return hashlib.sha256(json.dumps(entries).encode()).hexdigest()


def _file_sha256(path: Path) -> str:
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def resolve_content(spec: str, holdout_fraction: float) -> ImageSet:
    """Turn ``data.content`` into an ImageSet: ``builtin:photos`` or a folder of images.

    ``holdout_fraction`` applies to folders only; the built-in set has a fixed split so
    results stay comparable across builds.
    """
    if spec.startswith(BUILTIN_PREFIX):
        if spec != BUILTIN_CONTENT:
            raise UserInputError(f"content '{spec}': unknown built-in set; valid: {BUILTIN_CONTENT}")
        return _builtin_photos()
    return _folder_photos(spec, holdout_fraction)


def _builtin_photos() -> ImageSet:
    paths = {name: _package_file(package, relative) for name, (package, relative) in BUILTIN_PHOTOS.items()}
    shipped = sorted(Path(str(importlib.resources.files(ASSETS) / SHIPPED_PHOTOS)).glob("*.jpg"))
    if not shipped:
        raise StylectlError(f"built-in training photos are missing from {ASSETS}.{SHIPPED_PHOTOS}; reinstall stylectl")
    return ImageSet(
        train=tuple(path for name, path in paths.items() if name not in HELDOUT_PHOTOS) + tuple(shipped),
        heldout=tuple(paths[name] for name in HELDOUT_PHOTOS),
    )


def _package_file(package: str, relative: str) -> Path:
    """Find a data file inside an installed package without importing the package."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise StylectlError(f"built-in photos need the '{package}' package, which is not installed")
    path = Path(next(iter(spec.submodule_search_locations))) / relative
    if not path.is_file():
        raise StylectlError(f"built-in photo {relative} is missing from the installed '{package}' package")
    return path


def _folder_photos(spec: str, holdout_fraction: float) -> ImageSet:
    folder = Path(spec).expanduser()
    if not folder.exists():
        raise UserInputError(f"content folder '{spec}' does not exist (or use {BUILTIN_CONTENT})")
    if not folder.is_dir():
        raise UserInputError(f"content '{spec}' is not a folder of images (or use {BUILTIN_CONTENT})")
    images = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in CONTENT_SUFFIXES)
    if len(images) < 2:
        suffixes = ", ".join(sorted(CONTENT_SUFFIXES))
        raise UserInputError(
            f"content folder '{spec}' has {len(images)} image(s) ({suffixes}); "
            "need at least 2: one to train on, one held out"
        )
    size = min(len(images) - 1, max(1, round(len(images) * holdout_fraction)))
    # Ranking by a hash of the name (not the position) means a new file can take at most
    # one held-out slot instead of shifting every photo across the split.
    heldout = set(sorted(images, key=lambda p: hashlib.sha256(p.name.encode()).hexdigest())[:size])
    return ImageSet(
        train=tuple(p for p in images if p not in heldout),
        heldout=tuple(p for p in images if p in heldout),
    )


def resolve_style(spec: str) -> Path:
    """Turn ``style.image`` into a file: ``builtin:NAME`` (see BUILTIN_STYLES) or an image path."""
    valid = ", ".join(BUILTIN_PREFIX + name for name in BUILTIN_STYLES)
    if spec.startswith(BUILTIN_PREFIX):
        name = spec.removeprefix(BUILTIN_PREFIX)
        if name not in BUILTIN_STYLES:
            raise UserInputError(f"style '{spec}': unknown built-in style; valid: {valid}")
        # Wheels install unpacked, so the resource is a real file on disk.
        return Path(str(importlib.resources.files(ASSETS) / "styles" / f"{name}.jpg"))
    path = Path(spec).expanduser()
    if not path.exists():
        raise UserInputError(f"style image '{spec}' does not exist; give an image file or one of {valid}")
    if not path.is_file():
        raise UserInputError(f"style '{spec}' is not an image file; give an image file or one of {valid}")
    return path


def style_tensor(spec: str, size: int) -> torch.Tensor:
    """The style image as [3,H,W] in [0,1], scaled (up or down) so its longest side is ``size``.

    Gram statistics depend on the scale of brush strokes in pixels, so the style is
    always seen at the configured size, whatever the file's resolution.
    """
    return _to_tensor(_fit_longest(_open_rgb(resolve_style(spec)), size))


def optional_style(spec: str | None, size: int) -> torch.Tensor | None:
    """`style_tensor`, or None for a config without a style image (`style.image: null`, an imported teacher's)."""
    return None if spec is None else style_tensor(spec, size)


def load_image(path: Path, max_side: int | None = None) -> torch.Tensor:
    """Read an image as [3,H,W] float32 RGB in [0,1]; shrink it so its longest side <= max_side.

    Raises UserInputError naming the file when it cannot be read, including truncated files
    (PIL's LOAD_TRUNCATED_IMAGES stays off: half a photo is not a photo to learn from).
    """
    image = _open_rgb(path)
    if max_side is not None and max(image.size) > max_side:
        image = _fit_longest(image, max_side)
    return _to_tensor(image)


def load_images(paths: Sequence[Path], max_side: int) -> tuple[list[torch.Tensor], list[Path]]:
    """Load every readable image; return the images and the paths that were skipped.

    One bad photo in a large folder should cost a warning, not the run; only a folder
    where nothing loads is an error.
    """
    images: list[torch.Tensor] = []
    skipped: list[Path] = []
    first_error: UserInputError | None = None
    for path in paths:
        try:
            images.append(load_image(path, max_side))
        except UserInputError as error:
            skipped.append(path)
            first_error = first_error or error
    if not images:
        raise UserInputError(f"none of the {len(paths)} images could be read; first: {first_error}")
    return images, skipped


def square_crop(image: torch.Tensor, size: int) -> torch.Tensor:
    """Center-crop [3,H,W] to a square and resize it to [3,size,size] (antialiased bilinear)."""
    _, height, width = image.shape
    side = min(height, width)
    top, left = (height - side) // 2, (width - side) // 2
    square = image[:, top : top + side, left : left + side]
    resized = F.interpolate(square[None], size=(size, size), mode="bilinear", antialias=True, align_corners=False)
    return resized[0].clamp(0, 1)


def eval_batch(paths: Sequence[Path], size: int) -> torch.Tensor:
    """The held-out photos as one deterministic [N,3,size,size] batch.

    Unlike training, an unreadable photo here is an error: silently evaluating on fewer
    photos would make reports incomparable.
    """
    return torch.stack([square_crop(load_image(path), size) for path in paths])


def _open_rgb(path: Path) -> Image.Image:
    """Upright 8-bit sRGB (pipelines/images.py), so 16-bit, CMYK or wide-gamut photos train as they look."""
    return open_image(path).rgb


def _fit_longest(image: Image.Image, size: int) -> Image.Image:
    scale = size / max(image.size)
    width, height = (max(1, round(side * scale)) for side in image.size)
    return image.resize((width, height), Image.Resampling.LANCZOS)


def _to_tensor(image: Image.Image) -> torch.Tensor:
    array = np.array(image, dtype=np.float32) / 255.0
    return torch.from_numpy(array).permute(2, 0, 1).contiguous()
