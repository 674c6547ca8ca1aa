"""Training crops and the Lightning DataModule (pipelines/datamodule.py)."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from pydantic import ValidationError

from stylectl.pipelines.config import AugmentConfig, StudentConfig, TeacherConfig
from stylectl.pipelines.data import ImageSet
from stylectl.pipelines.train.datamodule import GREY_WEIGHTS, PLAIN_CROPS, ContentDataModule, RandomCropDataset

CROP = 8


def write_image(path: Path, width: int, height: int, seed: int) -> Path:
    """A tiny noise image, so every crop is distinguishable."""
    pixels = np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path)
    return path


def noise_images() -> list[torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    return [torch.rand(3, 20, 30, generator=generator), torch.rand(3, 24, 16, generator=generator)]


def items(dataset: RandomCropDataset) -> torch.Tensor:
    return torch.stack([dataset[index] for index in range(len(dataset))])


def test_crops_are_reproducible_for_a_seed_and_differ_across_seeds():
    images = noise_images()
    first = items(RandomCropDataset(images, CROP, length=6, seed=1))
    assert torch.equal(first, items(RandomCropDataset(images, CROP, length=6, seed=1)))
    assert not torch.equal(first, items(RandomCropDataset(images, CROP, length=6, seed=2)))


def test_an_item_does_not_depend_on_what_was_read_before():
    dataset = RandomCropDataset(noise_images(), CROP, length=6, seed=3)
    forward = items(dataset)
    assert torch.equal(dataset[4], forward[4])


def test_crop_size_and_length():
    dataset = RandomCropDataset(noise_images(), CROP, length=5, seed=0)
    assert len(dataset) == 5
    assert items(dataset).shape == (5, 3, CROP, CROP)
    with pytest.raises(IndexError):
        dataset[5]


def test_image_smaller_than_the_crop_is_upscaled_to_fit():
    dataset = RandomCropDataset([torch.rand(3, 4, 10)], crop=CROP, length=3, seed=0)
    assert items(dataset).shape == (3, 3, CROP, CROP)


# --- augmentation --------------------------------------------------------------------


def augmented(images: list[torch.Tensor], length: int = 12, seed: int = 0, **augment) -> torch.Tensor:
    return items(RandomCropDataset(images, CROP, length, seed, AugmentConfig(**augment)))


def test_augmented_crops_are_a_pure_function_of_seed_and_index():
    dataset = RandomCropDataset(noise_images(), CROP, length=6, seed=4, augment=AugmentConfig())
    forward = items(dataset)
    assert torch.equal(dataset[3], forward[3])
    assert torch.equal(forward, items(RandomCropDataset(noise_images(), CROP, 6, 4, AugmentConfig())))
    assert not torch.equal(forward, items(RandomCropDataset(noise_images(), CROP, 6, 5, AugmentConfig())))
    assert forward.shape == (6, 3, CROP, CROP) and 0 <= forward.min() and forward.max() <= 1


def test_a_crop_leaves_the_training_thread_count_as_it_was():
    threads = torch.get_num_threads()
    RandomCropDataset(noise_images(), CROP, length=1, seed=0, augment=AugmentConfig())[0]
    assert torch.get_num_threads() == threads


def test_no_augment_means_plain_crops_at_the_loaded_scale():
    images = noise_images()
    assert torch.equal(items(RandomCropDataset(images, CROP, 8, 0)), augmented(images, 8, scale=None, color=0))
    assert PLAIN_CROPS == AugmentConfig(scale=None, flip=True, color=0)
    # Unscaled, unjittered and unflipped, every crop is a window of its photo, pixel for pixel.
    image = noise_images()[0]
    windows = image.unfold(1, CROP, 1).unfold(2, CROP, 1).permute(1, 2, 0, 3, 4).reshape(-1, 3, CROP, CROP)
    for crop in augmented([image], scale=None, flip=False, color=0):
        assert (windows == crop).flatten(1).all(1).any()


def test_whole_short_side_of_a_square_photo_is_the_photo_resized():
    image = torch.rand(3, 40, 40, generator=torch.Generator().manual_seed(1))
    resized = F.interpolate(image[None], size=(CROP, CROP), mode="bilinear", antialias=True, align_corners=False)[0]
    for crop in augmented([image], length=3, scale=(1.0, 1.0), flip=False, color=0):
        assert torch.allclose(crop, resized)


@pytest.mark.parametrize("scale", [(0.2, 0.3), (0.5, 1.0)])
def test_a_crop_covers_a_share_of_the_short_side_within_the_scale_range(scale):
    # A horizontal ramp from 0 to 1 over a square: a crop's slope is the share of the side it covers
    # (read between inner columns, which the resize filter computes without the window's edges).
    ramp = torch.linspace(0, 1, 200).expand(3, 200, 200)
    crops = augmented([ramp], length=40, scale=scale, flip=False, color=0)
    shares = (crops[:, 0, 0, CROP - 2] - crops[:, 0, 0, 1]) * CROP / (CROP - 3)
    assert shares.min() > scale[0] - 0.01 and shares.max() < scale[1] + 0.01
    assert shares.max() - shares.min() > (scale[1] - scale[0]) / 2  # spread over the range, not one value


def test_colour_jitter_changes_colours_in_the_same_window():
    image = 0.3 + 0.4 * noise_images()[0]  # away from 0 and 1: nothing is clamped
    plain = augmented([image], scale=None, flip=False, color=0)
    jittered = augmented([image], scale=None, flip=False, color=0.2)
    assert not torch.allclose(plain, jittered)
    # Brightness and contrast map grey levels affinely and saturation keeps them, so a
    # jittered crop's grey is its plain twin's up to an affine map: the window did not move.
    for before, after in zip((plain * GREY_WEIGHTS).sum(1), (jittered * GREY_WEIGHTS).sum(1)):
        assert torch.corrcoef(torch.stack([before.flatten(), after.flatten()]))[0, 1] > 0.9999


@pytest.mark.parametrize("flip", [True, False])
def test_flip_mirrors_some_crops_or_none(flip):
    ramp = torch.linspace(0, 1, 30).expand(3, 20, 30)
    crops = augmented([ramp], length=20, scale=None, flip=flip, color=0)
    mirrored = crops[:, 0, 0, -1] < crops[:, 0, 0, 0]
    assert mirrored.any() == flip and not mirrored.all()


@pytest.mark.parametrize(
    "augment",
    [{"scale": [0.8, 0.5]}, {"scale": [0.0, 1.0]}, {"scale": [0.5, 1.5]}, {"scale": [0.5]}, {"color": -0.1},
     {"color": 1.0}, {"flip": "sometimes"}],
    ids=["min-above-max", "zero", "above-one", "one-value", "negative-colour", "colour-one", "flip-not-bool"],
)
def test_bad_augment_settings_are_config_errors(augment):
    with pytest.raises(ValidationError) as error:
        StudentConfig(augment=augment)
    assert "augment" in str(error.value)


def test_augment_defaults_are_on_and_null_scale_is_allowed():
    assert StudentConfig().augment == TeacherConfig().augment == AugmentConfig(scale=(0.33, 1.0), flip=True, color=0.1)
    assert StudentConfig(augment={"scale": None, "flip": False, "color": 0}).augment.scale is None
    assert StudentConfig(augment={"scale": [0.5, 0.5]}).augment.scale == (0.5, 0.5)


def test_datamodule_batches_and_validation(tmp_path):
    train = tuple(write_image(tmp_path / f"train_{i}.png", 30, 20, seed=i) for i in range(3))
    heldout = (write_image(tmp_path / "heldout.png", 20, 30, seed=9),)
    module = ContentDataModule(
        ImageSet(train, heldout), crop=CROP, batch_size=2, steps=3, seed=0, val_size=12, max_side=24,
        augment=AugmentConfig(),
    )
    module.setup("fit")
    loader = module.train_dataloader()
    assert loader.dataset.augment == AugmentConfig()
    batches = list(loader)
    assert len(batches) == 3
    assert all(batch.shape == (2, 3, CROP, CROP) for batch in batches)
    assert module.skipped == []

    (val,) = list(module.val_dataloader())
    assert val.shape == (1, 3, 12, 12)


def test_datamodule_skips_unreadable_photos_with_one_warning(tmp_path, caplog):
    good = write_image(tmp_path / "good.png", 30, 20, seed=0)
    bad = write_image(tmp_path / "bad.jpg", 64, 64, seed=1)
    bad.write_bytes(bad.read_bytes()[: bad.stat().st_size // 2])
    module = ContentDataModule(
        ImageSet((good, bad), (good,)), crop=CROP, batch_size=1, steps=1, seed=0, val_size=8, max_side=32,
        augment=AugmentConfig(),
    )
    with caplog.at_level(logging.WARNING, logger="stylectl"):
        module.setup("fit")
        module.setup("validate")
    assert module.skipped == [bad]
    warnings = [record for record in caplog.records if record.name == "stylectl"]
    assert len(warnings) == 1 and "bad.jpg" in warnings[0].getMessage()
