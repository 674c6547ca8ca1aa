"""LightningModules: what one training step computes for the teacher and for the student.

Lightning owns the loop, devices, precision and DDP (see `trainer.py`). Validation runs on
the held-out photos and writes an image grid, so a person can watch quality improve. With
an adversarial term a module steps two optimizers per batch, which Lightning only allows
under manual optimization; without one, Lightning's automatic loop is used.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytorch_lightning as pl
import torch
from torch import nn

from stylectl.pipelines.config import AdversarialConfig, LrSchedule
from stylectl.pipelines.measure.grid import save_grid
from stylectl.pipelines.measure.metrics import psnr
from stylectl.pipelines.models.discriminator import PatchDiscriminator
from stylectl.pipelines.train.adversarial import adversarial_step, style_patches
from stylectl.pipelines.train.distill_loss import DistillationLoss
from stylectl.pipelines.train.losses import PerceptualLoss

# Adam's momentum for the discriminator: DCGAN's (Radford et al. 2016) first moment of 0.5,
# which keeps the adversarial game from oscillating; the generator keeps Adam's defaults.
DISCRIMINATOR_BETAS = (0.5, 0.999)


@dataclass(frozen=True)
class LearningRate:
    """Adam's learning rate over a run: held constant, or cosine-decayed to zero by the last step.

    With a constant rate a student's held-out error jumps from one validation to the next, so
    where a run stops decides its score; a decayed rate lets the last steps settle. Weight averaging
    (`trainer.ema_decay`) calms the same swings without tying the schedule to the run's length,
    so constant stays the default and cosine is there for long runs.
    """

    peak: float
    schedule: LrSchedule
    steps: int


class _Trainable(pl.LightningModule):
    """What both modules share: the optional discriminator, optimizers, logging, grids."""

    def __init__(self, network: nn.Module, lr: LearningRate, grid_folder: Path, adversarial: AdversarialConfig,
                 gradient_clip_val: float | None) -> None:
        super().__init__()
        self.network = network
        self.lr = lr
        self.grid_folder = grid_folder
        self.adversarial = adversarial
        self.gradient_clip_val = gradient_clip_val
        self.discriminator = PatchDiscriminator(adversarial.width, adversarial.layers) if adversarial.enabled else None
        self.automatic_optimization = self.discriminator is None
        self.optimizer_steps_per_batch = 1 if self.discriminator is None else 2

    @property
    def batch_step(self) -> int:
        """Batches trained so far: Lightning's global_step counts optimizer steps, several per batch
        with an adversarial term."""
        return self.global_step // self.optimizer_steps_per_batch

    def finish_step(self, terms: dict[str, torch.Tensor], output: torch.Tensor, real: torch.Tensor | None):
        """Run the adversarial step when there is one, log, and return what Lightning expects."""
        if self.discriminator is not None:
            terms.update(adversarial_step(self, self.discriminator, output, real, terms["total"],
                                          self.adversarial.weight, self.gradient_clip_val))
            if (scheduler := self.lr_schedulers()) is not None:  # manual optimization steps it too
                scheduler.step()
        self.log_dict({f"train/{name}": value.detach() for name, value in terms.items()})
        return terms["total"] if self.automatic_optimization else {"loss": terms["total"].detach()}

    def save_grid(self, columns: dict[str, torch.Tensor]) -> None:
        if self.trainer.is_global_zero:
            save_grid(columns, self.grid_folder / f"step_{self.batch_step:06d}.png")

    def configure_optimizers(self):
        parameters = [p for name, p in self.named_parameters()
                      if p.requires_grad and not name.startswith("discriminator.")]
        optimizer = torch.optim.Adam(parameters, lr=self.lr.peak)
        optimizers = [optimizer]
        if self.discriminator is not None:
            optimizers.append(torch.optim.Adam(self.discriminator.parameters(), lr=self.adversarial.lr, betas=DISCRIMINATOR_BETAS))
        if self.lr.schedule == "constant":
            return optimizers
        scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=self.lr.steps)
        return optimizers, [{"scheduler": scheduler, "interval": "step"}]


class TeacherModule(_Trainable):
    """Johnson et al.: minimise content + Gram style + TV loss; optionally fool a PatchGAN
    that sees patches of the style image as real."""

    def __init__(self, model: nn.Module, loss: PerceptualLoss, lr: LearningRate, grid_folder: Path,
                 adversarial: AdversarialConfig, style: torch.Tensor, gradient_clip_val: float | None) -> None:
        super().__init__(model, lr, grid_folder, adversarial, gradient_clip_val)
        self.loss = loss
        self.register_buffer("style", style, persistent=False)

    def on_train_epoch_start(self) -> None:
        # Lightning keeps each module's train/eval mode as it found it; set them explicitly.
        self.network.train()
        self.loss.eval()

    def training_step(self, batch: torch.Tensor, batch_index: int):
        output = self.network(batch)
        real = style_patches(self.style, output.shape[0], output.shape[-1]) if self.discriminator else None
        return self.finish_step(self.loss(output, batch), output, real)

    def validation_step(self, batch: torch.Tensor, batch_index: int) -> None:
        output = self.network(batch)
        self.log_dict({f"val/{name}": value for name, value in self.loss(output, batch).items()}, sync_dist=True)
        self.save_grid({"content": batch, "teacher": output})


class StudentModule(_Trainable):
    """Distillation: the student learns to reproduce the frozen teacher (see DistillationLoss);
    an optional PatchGAN sees the teacher's output as real."""

    def __init__(self, loss: DistillationLoss, lr: LearningRate, grid_folder: Path, adversarial: AdversarialConfig,
                 gradient_clip_val: float | None) -> None:
        super().__init__(loss.student, lr, grid_folder, adversarial, gradient_clip_val)
        self.loss = loss
        loss.teacher.eval().requires_grad_(False)

    def on_train_epoch_start(self) -> None:
        # Lightning keeps each module's train/eval mode as it found it; set them explicitly.
        self.loss.train()
        self.loss.teacher.eval()
        if self.loss.vgg is not None:
            self.loss.vgg.eval()

    def training_step(self, batch: torch.Tensor, batch_index: int):
        terms, output, target = self.loss(batch, self.batch_step)
        return self.finish_step(terms, output, target)

    def validation_step(self, batch: torch.Tensor, batch_index: int) -> None:
        terms, output, target = self.loss(batch)
        # PSNR against the teacher on the held-out photos: the curve that says where training flattens.
        self.log_dict({**{f"val/{name}": value for name, value in terms.items()}, "val/psnr": psnr(output, target)},
                      sync_dist=True)
        self.save_grid({"content": batch, "teacher": target, "student": output})
