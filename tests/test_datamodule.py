"""Training crops and the Lightning DataModule (pipelines/datamodule.py)."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from stylectl.pipelines.data import ImageSet
from stylectl.pipelines.datamodule import ContentDataModule, RandomCropDataset

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


def test_datamodule_batches_and_validation(tmp_path):
    train = tuple(write_image(tmp_path / f"train_{i}.png", 30, 20, seed=i) for i in range(3))
    heldout = (write_image(tmp_path / "heldout.png", 20, 30, seed=9),)
    module = ContentDataModule(
        ImageSet(train, heldout), crop=CROP, batch_size=2, steps=3, seed=0, val_size=12, max_side=24
    )
    module.setup("fit")
    batches = list(module.train_dataloader())
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
        ImageSet((good, bad), (good,)), crop=CROP, batch_size=1, steps=1, seed=0, val_size=8, max_side=32
    )
    with caplog.at_level(logging.WARNING, logger="stylectl"):
        module.setup("fit")
        module.setup("validate")
    assert module.skipped == [bad]
    warnings = [record for record in caplog.records if record.name == "stylectl"]
    assert len(warnings) == 1 and "bad.jpg" in warnings[0].getMessage()
