"""LightningModules: what one training step computes for the teacher and for the student.

Lightning owns the loop, devices, precision and DDP (see `trainer.py`). Validation runs on
the held-out photos and writes an image grid, so a person can watch quality improve.
"""

from __future__ import annotations

from pathlib import Path

import pytorch_lightning as pl
import torch
from torch import nn

from stylectl.pipelines.adversarial import discriminator_hinge, generator_hinge, style_patches
from stylectl.pipelines.config import AdversarialConfig
from stylectl.pipelines.grid import save_grid
from stylectl.pipelines.losses import PerceptualLoss, perceptual_distance, pixel_loss
from stylectl.pipelines.models.discriminator import PatchDiscriminator
from stylectl.pipelines.models.vgg import VGGFeatures


def _grid_path(module: pl.LightningModule, folder: Path) -> Path:
    return folder / f"step_{module.global_step // getattr(module, 'optimizer_steps_per_batch', 1):06d}.png"


class TeacherModule(pl.LightningModule):
    """Johnson et al.: minimise content + Gram style + TV loss; optionally fool a PatchGAN.

    With the adversarial term the module steps two optimizers per batch, which Lightning
    only allows under manual optimization; without it, Lightning's automatic loop is used.
    """

    def __init__(self, model: nn.Module, loss: PerceptualLoss, lr: float, grid_folder: Path,
                 adversarial: AdversarialConfig, style: torch.Tensor, gradient_clip_val: float | None) -> None:
        super().__init__()
        self.model = model
        self.loss = loss
        self.lr = lr
        self.grid_folder = grid_folder
        self.adversarial = adversarial
        self.gradient_clip_val = gradient_clip_val
        self.discriminator = PatchDiscriminator(adversarial.width, adversarial.layers) if adversarial.enabled else None
        self.register_buffer("style", style, persistent=False)
        self.automatic_optimization = self.discriminator is None
        self.optimizer_steps_per_batch = 1 if self.discriminator is None else 2

    def on_train_epoch_start(self) -> None:
        # Lightning keeps each module's train/eval mode as it found it; set them explicitly.
        self.model.train()
        self.loss.eval()

    def training_step(self, batch: torch.Tensor, batch_index: int):
        output = self.model(batch)
        terms = self.loss(output, batch)
        if self.discriminator is not None:
            terms.update(self._adversarial_step(output, terms["total"]))
        self.log_dict({f"train/{name}": value.detach() for name, value in terms.items()})
        return terms["total"] if self.automatic_optimization else {"loss": terms["total"].detach()}

    def _adversarial_step(self, output: torch.Tensor, perceptual_total: torch.Tensor) -> dict[str, torch.Tensor]:
        generator_optimizer, discriminator_optimizer = self.optimizers()
        adversarial = generator_hinge(self.discriminator(output))
        total = perceptual_total + self.adversarial.weight * adversarial
        generator_optimizer.zero_grad()
        self.manual_backward(total)
        if self.gradient_clip_val:
            self.clip_gradients(generator_optimizer, gradient_clip_val=self.gradient_clip_val)
        generator_optimizer.step()

        real = style_patches(self.style, output.shape[0], output.shape[-1])
        discriminator_loss = discriminator_hinge(self.discriminator(real), self.discriminator(output.detach()))
        discriminator_optimizer.zero_grad()
        self.manual_backward(discriminator_loss)
        discriminator_optimizer.step()
        return {"adversarial": adversarial, "discriminator": discriminator_loss, "total": total}

    def validation_step(self, batch: torch.Tensor, batch_index: int) -> None:
        output = self.model(batch)
        terms = self.loss(output, batch)
        self.log_dict({f"val/{name}": value for name, value in terms.items()}, sync_dist=True)
        if self.trainer.is_global_zero:
            save_grid({"content": batch, "teacher": output}, _grid_path(self, self.grid_folder))

    def configure_optimizers(self):
        generator = torch.optim.Adam(self.model.parameters(), lr=self.lr)
        if self.discriminator is None:
            return generator
        return [generator, torch.optim.Adam(self.discriminator.parameters(), lr=self.adversarial.lr, betas=(0.5, 0.999))]


class StudentModule(pl.LightningModule):
    """Distillation: the student learns to reproduce the frozen teacher's output."""

    def __init__(self, student: nn.Module, teacher: nn.Module, lr: float, pixel_kind: str, pixel_weight: float,
                 grid_folder: Path, perceptual_weight: float = 0.0, perceptual_layers: list[str] | None = None,
                 vgg: VGGFeatures | None = None) -> None:
        super().__init__()
        self.student = student
        self.teacher = teacher.eval().requires_grad_(False)
        self.lr = lr
        self.pixel_kind = pixel_kind
        self.pixel_weight = pixel_weight
        self.grid_folder = grid_folder
        self.perceptual_weight = perceptual_weight
        self.perceptual_layers = perceptual_layers or []
        self.vgg = vgg

    def on_train_epoch_start(self) -> None:
        # Lightning keeps each module's train/eval mode as it found it; set them explicitly.
        self.student.train()
        self.teacher.eval()
        if self.vgg is not None:
            self.vgg.eval()

    def _terms(self, batch: torch.Tensor) -> tuple[dict[str, torch.Tensor], torch.Tensor, torch.Tensor]:
        with torch.no_grad():
            target = self.teacher(batch)
        output = self.student(batch)
        terms = {"pixel": self.pixel_weight * pixel_loss(output, target, self.pixel_kind)}
        if self.perceptual_weight > 0:
            terms["perceptual"] = self.perceptual_weight * perceptual_distance(self.vgg, output, target,
                                                                               self.perceptual_layers)
        terms["total"] = sum(terms.values())
        return terms, output, target

    def training_step(self, batch: torch.Tensor, batch_index: int) -> torch.Tensor:
        terms, _, _ = self._terms(batch)
        self.log_dict({f"train/{name}": value.detach() for name, value in terms.items()})
        return terms["total"]

    def validation_step(self, batch: torch.Tensor, batch_index: int) -> None:
        terms, output, target = self._terms(batch)
        self.log_dict({f"val/{name}": value for name, value in terms.items()}, sync_dist=True)
        if self.trainer.is_global_zero:
            save_grid({"content": batch, "teacher": target, "student": output}, _grid_path(self, self.grid_folder))

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.Adam(self.student.parameters(), lr=self.lr)
