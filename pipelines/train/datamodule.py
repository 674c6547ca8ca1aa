"""Random training crops and the LightningDataModule that teacher and student training share.

Randomness lives in the dataset, keyed by (seed, index), not in the DataLoader: the same
seed gives the same crops in every run, and DDP can shard the indices without changing
which crops exist.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset

from stylectl.pipelines.config import AugmentConfig
from stylectl.pipelines.data import ImageSet, eval_batch, load_images

logger = logging.getLogger("stylectl")

# Large odd multiplier so the per-item seeds of neighbouring run seeds do not overlap.
SEED_STRIDE = 1_000_003

# Crops as loaded: no resizing, no colour change, mirrored half the time.
PLAIN_CROPS = AugmentConfig(scale=None, flip=True, color=0.0)

# ITU-R BT.601 luma weights: the grey that saturation 0 would give.
GREY_WEIGHTS = torch.tensor([0.299, 0.587, 0.114]).view(3, 1, 1)


class RandomCropDataset(Dataset):
    """``length`` random ``crop``x``crop`` crops, each a pure function of (seed, index).

    An item picks an image and a window in it: with ``augment.scale``, a square covering a
    random share of the image's short side, resized to ``crop`` (so the model meets the
    same things at several sizes); otherwise ``crop`` pixels at the loaded scale. Then it
    may be mirrored and colour-jittered (``augment.flip``, ``augment.color``). Without
    ``augment`` it is a plain crop, mirrored half the time: what calibration and importance
    estimates need. Images whose short side is below ``crop`` are upscaled once, up front,
    so they can still be cropped rather than dropped.
    """

    def __init__(
        self, images: list[torch.Tensor], crop: int, length: int, seed: int, augment: AugmentConfig | None = None
    ) -> None:
        self.images = [_cover(image, crop) for image in images]
        self.crop = crop
        self.length = length
        self.seed = seed
        self.augment = PLAIN_CROPS if augment is None else augment

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> torch.Tensor:
        if not 0 <= index < self.length:
            raise IndexError(f"crop {index} out of range for {self.length} crops")
        with _one_thread():
            return self._crop(index)

    def _crop(self, index: int) -> torch.Tensor:
        # Draws come in a fixed order (image, share, position, flip, colour), so switching
        # colour jitter on or off leaves every crop's window where it was.
        generator = torch.Generator().manual_seed(self.seed * SEED_STRIDE + index)
        image = self.images[int(torch.randint(len(self.images), (1,), generator=generator))]
        _, height, width = image.shape
        side = self.crop
        if self.augment.scale is not None:
            low, high = (math.log(share) for share in self.augment.scale)
            # Log-uniform: zooming 2x in is as likely as zooming 2x out.
            share = math.exp(low + (high - low) * float(torch.rand((), generator=generator)))
            side = max(1, round(share * min(height, width)))
        top = int(torch.randint(height - side + 1, (1,), generator=generator))
        left = int(torch.randint(width - side + 1, (1,), generator=generator))
        crop = image[:, top : top + side, left : left + side]
        if side != self.crop:
            crop = F.interpolate(crop[None], size=(self.crop, self.crop), mode="bilinear", antialias=True,
                                 align_corners=False)[0].clamp(0, 1)
        if torch.rand((), generator=generator) < 0.5 and self.augment.flip:
            crop = crop.flip(-1)
        if self.augment.color:
            crop = _jitter_colour(crop, self.augment.color, generator)
        return crop.contiguous()


@contextmanager
def _one_thread() -> Iterator[None]:
    """Run a crop's small tensor ops on one thread, whatever the training uses.

    Threads gain nothing on a 128x128 crop, and on a busy machine every op's OpenMP barrier
    waits for a descheduled thread: one augmented crop took 0.7 ms on one thread and 120 ms
    on two (2 cores, load average 7). One thread also fixes the order of float sums, so a
    crop is the same on any core count.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def _jitter_colour(crop: torch.Tensor, strength: float, generator: torch.Generator) -> torch.Tensor:
    """Scale brightness, contrast and saturation by random factors in [1-strength, 1+strength].

    Photos differ in exposure and white balance; a model that has seen only a few of them
    should not tie the style's colours to theirs.
    """
    brightness, contrast, saturation = (1 + strength * (2 * torch.rand(3, generator=generator) - 1)).tolist()
    crop = crop * brightness
    mean = crop.mean()
    crop = (crop - mean) * contrast + mean
    grey = (crop * GREY_WEIGHTS).sum(0, keepdim=True)
    return ((crop - grey) * saturation + grey).clamp(0, 1)


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
        augment: AugmentConfig,
    ) -> None:
        super().__init__()
        self.image_set = image_set
        self.crop = crop
        self.batch_size = batch_size
        self.steps = steps
        self.seed = seed
        self.val_size = val_size
        self.max_side = max_side
        self.augment = augment
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
        dataset = RandomCropDataset(self.images, self.crop, self.steps * self.batch_size, self.seed, self.augment)
        # shuffle=False: order is already random per index, and a sequential sampler lets
        # Lightning's DistributedSampler split indices across ranks deterministically.
        return DataLoader(dataset, batch_size=self.batch_size, shuffle=False, num_workers=0, drop_last=True)

    def val_dataloader(self) -> DataLoader:
        batch = eval_batch(self.image_set.heldout, self.val_size)
        return DataLoader(batch, batch_size=len(batch), shuffle=False, num_workers=0)
