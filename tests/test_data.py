"""Photo and style resolution, splits, fingerprints and image loading (pipelines/data.py)."""

from __future__ import annotations

import importlib.resources
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageOps

from stylectl.pipelines.data import (
    ASSETS,
    BUILTIN_PHOTOS,
    BUILTIN_STYLES,
    HELDOUT_PHOTOS,
    SHIPPED_PHOTOS,
    ImageSet,
    eval_batch,
    load_image,
    load_images,
    resolve_content,
    resolve_style,
    square_crop,
    style_tensor,
)
from stylectl.pipelines.errors import UserInputError

HOLDOUT = 0.2


def write_image(path: Path, width: int = 24, height: int = 16, mode: str = "RGB", seed: int = 0) -> Path:
    """A tiny noise image, so every file has distinct bytes."""
    pixels = np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)
    Image.fromarray(pixels).convert(mode).save(path)
    return path


def photo_folder(folder: Path, count: int) -> Path:
    folder.mkdir()
    for index in range(count):
        write_image(folder / f"photo_{index:02d}.png", seed=index)
    return folder


def assert_user_error(error: pytest.ExceptionInfo, *names: str) -> None:
    message = str(error.value)
    assert isinstance(error.value, UserInputError)
    assert "\n" not in message
    for name in names:
        assert name in message


# --- built-in photos -----------------------------------------------------------------


def test_builtin_photos_resolve_to_existing_files_with_the_fixed_split():
    images = resolve_content("builtin:photos", HOLDOUT)
    assert all(path.is_file() for path in images.train + images.heldout)
    wheel_train = {name for name in BUILTIN_PHOTOS if name not in HELDOUT_PHOTOS}
    assert wheel_train <= {path.stem for path in images.train}
    assert len(images.train) >= len(wheel_train) + 100
    assert len({path.name for path in images.train}) == len(images.train)
    assert not set(images.train) & set(images.heldout)
    assert [path.stem for path in images.heldout] == list(HELDOUT_PHOTOS)


def test_every_shipped_photo_has_one_provenance_row_and_every_row_a_file():
    folder = Path(str(importlib.resources.files(ASSETS) / SHIPPED_PHOTOS))
    rows = re.findall(r"^\| (\S+\.jpg) \|", (folder / "PROVENANCE.md").read_text(), flags=re.MULTILINE)
    assert len(rows) == len(set(rows))
    assert set(rows) == {path.name for path in folder.glob("*.jpg")}


def _thumbnail(path: Path) -> np.ndarray:
    """Centre square as 24x24 grey, zero mean and unit norm: near-duplicates correlate close to 1."""
    with Image.open(path) as image:
        grey = ImageOps.fit(image.convert("L"), (24, 24), Image.Resampling.BOX)
    pixels = np.asarray(grey, dtype=np.float32).ravel()
    pixels -= pixels.mean()
    return pixels / np.linalg.norm(pixels)


def test_builtin_photos_have_no_near_duplicates():
    images = resolve_content("builtin:photos", HOLDOUT)
    thumbnails = np.stack([_thumbnail(path) for path in images.train + images.heldout])
    mirrored = thumbnails.reshape(-1, 24, 24)[:, :, ::-1].reshape(len(thumbnails), -1)
    similarity = np.maximum(thumbnails @ thumbnails.T, thumbnails @ mirrored.T)
    np.fill_diagonal(similarity, 0)
    # Unrelated photos with the same layout (sky over land) reach 0.88; a resized copy is near 1.
    assert similarity.max() < 0.95
    # Stricter against the held-out photos: evaluation must be on photos never trained on.
    assert similarity[: len(images.train), len(images.train) :].max() < 0.9


def test_builtin_split_ignores_holdout_fraction_and_keeps_stereo_pair_together():
    assert resolve_content("builtin:photos", 0.2) == resolve_content("builtin:photos", 0.9)
    train_names = {path.stem for path in resolve_content("builtin:photos", HOLDOUT).train}
    assert {"motorcycle_left", "motorcycle_right"} <= train_names


def test_builtin_fingerprint_is_stable():
    first = resolve_content("builtin:photos", HOLDOUT).fingerprint()
    assert first == resolve_content("builtin:photos", HOLDOUT).fingerprint()
    assert len(first) == 64


# --- user folders --------------------------------------------------------------------


def test_folder_split_is_deterministic_sized_and_disjoint(tmp_path):
    folder = photo_folder(tmp_path / "photos", 10)
    images = resolve_content(str(folder), HOLDOUT)
    assert images == resolve_content(str(folder), HOLDOUT)
    assert len(images.heldout) == 2 and len(images.train) == 8
    assert not set(images.train) & set(images.heldout)
    assert list(images.train) == sorted(images.train)


def test_folder_split_keeps_at_least_one_training_image(tmp_path):
    folder = photo_folder(tmp_path / "photos", 2)
    images = resolve_content(str(folder), 0.9)
    assert len(images.train) == 1 and len(images.heldout) == 1


def test_adding_a_file_does_not_reshuffle_the_others(tmp_path):
    folder = photo_folder(tmp_path / "photos", 10)
    before = resolve_content(str(folder), HOLDOUT)
    write_image(folder / "new.png", seed=99)
    after = resolve_content(str(folder), HOLDOUT)
    old_heldout_after = {path for path in after.heldout if path.name != "new.png"}
    assert old_heldout_after <= set(before.heldout)
    assert len(set(before.train) - set(after.train)) <= 1


def test_folder_lists_images_case_insensitively_and_non_recursively(tmp_path):
    folder = photo_folder(tmp_path / "photos", 2)
    write_image(folder / "UPPER.JPG", seed=5)
    (folder / "notes.txt").write_text("not an image")
    (folder / "nested").mkdir()
    write_image(folder / "nested" / "deep.png", seed=6)
    images = resolve_content(str(folder), HOLDOUT)
    assert {path.name for path in images.train + images.heldout} == {"photo_00.png", "photo_01.png", "UPPER.JPG"}


def test_fingerprint_ignores_location_and_tracks_bytes(tmp_path):
    folder = photo_folder(tmp_path / "photos", 4)
    copy = Path(shutil.copytree(folder, tmp_path / "elsewhere"))
    original = resolve_content(str(folder), HOLDOUT).fingerprint()
    assert resolve_content(str(copy), HOLDOUT).fingerprint() == original

    target = copy / "photo_02.png"
    data = bytearray(target.read_bytes())
    data[-1] ^= 0xFF
    target.write_bytes(bytes(data))
    assert resolve_content(str(copy), HOLDOUT).fingerprint() != original


def test_fingerprint_depends_on_the_split(tmp_path):
    first, second = write_image(tmp_path / "a.png", seed=1), write_image(tmp_path / "b.png", seed=2)
    assert ImageSet((first,), (second,)).fingerprint() != ImageSet((second,), (first,)).fingerprint()


@pytest.mark.parametrize(
    ("make_spec", "expected"),
    [
        (lambda tmp: "builtin:imagenet", ["builtin:imagenet", "builtin:photos"]),
        (lambda tmp: str(tmp / "missing"), ["missing", "does not exist"]),
        (lambda tmp: str(write_image(tmp / "single.png")), ["single.png", "not a folder"]),
        (lambda tmp: str(photo_folder(tmp / "one", 1)), ["one", "1 image", "at least 2"]),
        (lambda tmp: str(photo_folder(tmp / "empty", 0)), ["empty", "0 image"]),
    ],
    ids=["unknown-builtin", "missing", "file", "one-image", "empty"],
)
def test_bad_content_specs_are_one_line_user_errors(tmp_path, make_spec, expected):
    spec = make_spec(tmp_path)
    with pytest.raises(UserInputError) as error:
        resolve_content(spec, HOLDOUT)
    assert_user_error(error, spec, *expected)


# --- styles --------------------------------------------------------------------------


@pytest.mark.parametrize("name", BUILTIN_STYLES)
def test_builtin_styles_resolve_to_files(name):
    assert resolve_style(f"builtin:{name}").is_file()


def test_style_path_resolves_to_itself(tmp_path):
    path = write_image(tmp_path / "style.png")
    assert resolve_style(str(path)) == path


@pytest.mark.parametrize(
    ("make_spec", "expected"),
    [
        (lambda tmp: "builtin:mona_lisa", ["unknown"]),
        (lambda tmp: str(tmp / "missing.jpg"), ["does not exist"]),
        (lambda tmp: str(tmp), ["not an image file"]),
    ],
    ids=["unknown-builtin", "missing", "folder"],
)
def test_bad_style_specs_name_the_spec_and_the_builtins(tmp_path, make_spec, expected):
    spec = make_spec(tmp_path)
    with pytest.raises(UserInputError) as error:
        resolve_style(spec)
    assert_user_error(error, spec, *expected, *(f"builtin:{name}" for name in BUILTIN_STYLES))


@pytest.mark.parametrize("size", [16, 600])
def test_style_tensor_longest_side_is_size(tmp_path, size):
    style = style_tensor(str(write_image(tmp_path / "style.png", width=40, height=20)), size)
    assert style.shape == (3, size // 2, size)


# --- loading -------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["RGB", "L", "RGBA", "P"])
def test_load_image_gives_three_float_channels_in_unit_range(tmp_path, mode):
    image = load_image(write_image(tmp_path / f"{mode}.png", mode=mode))
    assert image.shape == (3, 16, 24)
    assert image.dtype == torch.float32
    assert 0.0 <= image.min() and image.max() <= 1.0


def test_load_image_downscales_keeping_aspect_but_never_upscales(tmp_path):
    path = write_image(tmp_path / "wide.png", width=40, height=20)
    assert load_image(path, max_side=20).shape == (3, 10, 20)
    assert load_image(path, max_side=100).shape == (3, 20, 40)


def truncated_jpeg(path: Path) -> Path:
    write_image(path, width=64, height=64)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    return path


def test_truncated_jpeg_is_a_user_error_naming_the_file(tmp_path):
    path = truncated_jpeg(tmp_path / "half.jpg")
    with pytest.raises(UserInputError) as error:
        load_image(path)
    assert_user_error(error, "half.jpg")


def test_non_image_file_is_a_user_error_naming_the_file(tmp_path):
    path = tmp_path / "fake.png"
    path.write_text("not pixels")
    with pytest.raises(UserInputError) as error:
        load_image(path)
    assert_user_error(error, "fake.png")


def test_load_images_skips_and_names_unreadable_files(tmp_path):
    good = write_image(tmp_path / "good.png")
    bad = truncated_jpeg(tmp_path / "half.jpg")
    images, skipped = load_images([good, bad], max_side=64)
    assert len(images) == 1 and skipped == [bad]


def test_load_images_fails_when_nothing_loads(tmp_path):
    bad = truncated_jpeg(tmp_path / "half.jpg")
    with pytest.raises(UserInputError) as error:
        load_images([bad], max_side=64)
    assert_user_error(error, "half.jpg")


# --- evaluation batches --------------------------------------------------------------


def test_square_crop_takes_the_centre(tmp_path):
    image = torch.zeros(3, 10, 30)
    image[:, :, 10:20] = 1.0
    assert torch.allclose(square_crop(image, 5), torch.ones(3, 5, 5))


def test_eval_batch_shape(tmp_path):
    paths = [write_image(tmp_path / "a.png", 30, 20), write_image(tmp_path / "b.png", 12, 40, seed=1)]
    batch = eval_batch(paths, 16)
    assert batch.shape == (2, 3, 16, 16)
    assert torch.equal(batch, eval_batch(paths, 16))
