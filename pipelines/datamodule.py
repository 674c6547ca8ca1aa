"""Random training crops and the LightningDataModule that teacher and student training share.

Randomness lives in the dataset, keyed by (seed, index), not in the DataLoader: the same
seed gives the same crops in every run, and DDP can shard the indices without changing
which crops exist.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path

import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset

from stylectl.pipelines.data import ImageSet, eval_batch, load_images

logger = logging.getLogger("stylectl")

# Large odd multiplier so the per-item seeds of neighbouring run seeds do not overlap.
SEED_STRIDE = 1_000_003


class RandomCropDataset(Dataset):
    """``length`` random ``crop``x``crop`` crops, each a pure function of (seed, index).

    An item picks an image, takes a random crop and flips it horizontally half the time.
    Images whose short side is below ``crop`` are upscaled once, up front, so they can
    still be cropped rather than dropped.
    """

    def __init__(self, images: list[torch.Tensor], crop: int, length: int, seed: int) -> None:
        self.images = [_cover(image, crop) for image in images]
        self.crop = crop
        self.length = length
        self.seed = seed

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> torch.Tensor:
        if not 0 <= index < self.length:
            raise IndexError(f"crop {index} out of range for {self.length} crops")
        generator = torch.Generator().manual_seed(self.seed * SEED_STRIDE + index)
        image = self.images[int(torch.randint(len(self.images), (1,), generator=generator))]
        _, height, width = image.shape
        top = int(torch.randint(height - self.crop + 1, (1,), generator=generator))
        left = int(torch.randint(width - self.crop + 1, (1,), generator=generator))
        crop = image[:, top : top + self.crop, left : left + self.crop]
        if torch.rand((), generator=generator) < 0.5:
            crop = crop.flip(-1)
        return crop.contiguous()


def _cover(image: torch.Tensor, crop: int) -> torch.Tensor:
    """Upscale ``image`` (keeping aspect) just enough that a crop x crop window fits."""
    _, height, width = image.shape
    if min(height, width) >= crop:
        return image
    scale = crop / min(height, width)
    size = (max(crop, math.ceil(height * scale)), max(crop, math.ceil(width * scale)))
    return F.interpolate(image[None], size=size, mode="bilinear", align_corners=False)[0].clamp(0, 1)


class ContentDataModule(pl.LightningDataModule):
    """Training crops from ``image_set.train``; the held-out photos as one validation batch.

    The training loader yields exactly ``steps`` batches of ``batch_size`` crops, so one
    epoch is the whole training run and the step count is the config's, not the folder's.
    """

    def __init__(
        self,
        image_set: ImageSet,
        crop: int,
        batch_size: int,
        steps: int,
        seed: int,
        val_size: int,
        max_side: int,
    ) -> None:
        super().__init__()
        self.image_set = image_set
        self.crop = crop
        self.batch_size = batch_size
        self.steps = steps
        self.seed = seed
        self.val_size = val_size
        self.max_side = max_side
        self.images: list[torch.Tensor] = []
        self.skipped: list[Path] = []

    def setup(self, stage: str | None = None) -> None:
        """Load the training photos once, skipping unreadable ones with a single warning."""
        if self.images:  # Lightning calls setup once per stage; the photos do not change.
            return
        self.images, self.skipped = load_images(self.image_set.train, self.max_side)
        if self.skipped:
            names = ", ".join(path.name for path in self.skipped)
            logger.warning("skipped %d unreadable training image(s): %s", len(self.skipped), names)

    def train_dataloader(self) -> DataLoader:
        dataset = RandomCropDataset(self.images, self.crop, self.steps * self.batch_size, self.seed)
        # shuffle=False: order is already random per index, and a sequential sampler lets
        # Lightning's DistributedSampler split indices across ranks deterministically.
        return DataLoader(dataset, batch_size=self.batch_size, shuffle=False, num_workers=0, drop_last=True)

    def val_dataloader(self) -> DataLoader:
        batch = eval_batch(self.image_set.heldout, self.val_size)
        return DataLoader(batch, batch_size=len(batch), shuffle=False, num_workers=0)
