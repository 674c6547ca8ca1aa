"""LightningModules for teacher and student training, and the Trainer built from YAML.

Lightning owns the loop, devices, precision and DDP; this file only says what a step
computes. Progress goes to stylectl's reporter instead of Lightning's own bars so that
terminals and CI logs look the same as every other stage.
"""

from __future__ import annotations

import time
from contextlib import ExitStack
from pathlib import Path

import pytorch_lightning as pl
import torch
from pytorch_lightning.loggers import CSVLogger
from torch import nn

from stylectl.pipelines.config import TrainerConfig
from stylectl.pipelines.losses import PerceptualLoss, perceptual_distance, pixel_loss
from stylectl.pipelines.models.vgg import VGGFeatures
from stylectl.pipelines.progress import Reporter
from stylectl.pipelines.quiet import quiet_libraries


class TeacherModule(pl.LightningModule):
    """Johnson et al.: the network learns to minimise content + Gram style + TV loss."""

    def __init__(self, model: nn.Module, loss: PerceptualLoss, lr: float) -> None:
        super().__init__()
        self.model = model
        self.loss = loss
        self.lr = lr

    def on_train_epoch_start(self) -> None:
        # Lightning keeps each module's train/eval mode as it found it; set them explicitly.
        self.model.train()
        self.loss.eval()

    def training_step(self, batch: torch.Tensor, batch_index: int) -> torch.Tensor:
        terms = self.loss(self.model(batch), batch)
        self.log_dict({f"train/{name}": value.detach() for name, value in terms.items()}, prog_bar=False)
        return terms["total"]

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.Adam(self.model.parameters(), lr=self.lr)


class StudentModule(pl.LightningModule):
    """Distillation: the student learns to reproduce the frozen teacher's output."""

    def __init__(self, student: nn.Module, teacher: nn.Module, lr: float, pixel_kind: str, pixel_weight: float,
                 perceptual_weight: float = 0.0, perceptual_layers: list[str] | None = None,
                 vgg: VGGFeatures | None = None) -> None:
        super().__init__()
        self.student = student
        self.teacher = teacher.eval().requires_grad_(False)
        self.lr = lr
        self.pixel_kind = pixel_kind
        self.pixel_weight = pixel_weight
        self.perceptual_weight = perceptual_weight
        self.perceptual_layers = perceptual_layers or []
        self.vgg = vgg

    def on_train_epoch_start(self) -> None:
        # Lightning keeps each module's train/eval mode as it found it; set them explicitly.
        self.student.train()
        self.teacher.eval()
        if self.vgg is not None:
            self.vgg.eval()

    def training_step(self, batch: torch.Tensor, batch_index: int) -> torch.Tensor:
        with torch.no_grad():
            target = self.teacher(batch)
        output = self.student(batch)
        terms = {"pixel": self.pixel_weight * pixel_loss(output, target, self.pixel_kind)}
        if self.perceptual_weight > 0:
            distance = perceptual_distance(self.vgg, output, target, self.perceptual_layers)
            terms["perceptual"] = self.perceptual_weight * distance
        terms["total"] = sum(terms.values())
        self.log_dict({f"train/{name}": value.detach() for name, value in terms.items()}, prog_bar=False)
        return terms["total"]

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.Adam(self.student.parameters(), lr=self.lr)


class ReporterCallback(pl.Callback):
    """Feeds training progress to the stylectl reporter (rank zero only) and times the run."""

    def __init__(self, reporter: Reporter, description: str, total_steps: int) -> None:
        self.reporter = reporter
        self.description = description
        self.total_steps = total_steps
        self.samples = 0
        self.seconds = 0.0
        self.last_loss = float("nan")
        self._stack = ExitStack()
        self._task = None
        self._started = 0.0

    def on_train_start(self, trainer: pl.Trainer, module: pl.LightningModule) -> None:
        self._started = time.monotonic()
        if trainer.is_global_zero:
            self._task = self._stack.enter_context(self.reporter.task(self.description, self.total_steps))

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_index) -> None:
        self.samples += batch.shape[0] * trainer.world_size
        self.last_loss = float(outputs["loss"])
        if self._task:
            self._task.update(trainer.global_step, loss=self.last_loss)

    def on_train_end(self, trainer: pl.Trainer, module: pl.LightningModule) -> None:
        self.seconds = time.monotonic() - self._started
        self._stack.close()

    @property
    def images_per_second(self) -> float:
        return self.samples / self.seconds if self.seconds else 0.0


def make_trainer(settings: TrainerConfig, steps: int, log_dir: Path, callback: ReporterCallback) -> pl.Trainer:
    """A Trainer for exactly `steps` optimizer steps, configured from the YAML trainer section."""
    quiet_libraries()  # again: importing Lightning resets its own log level
    return pl.Trainer(
        accelerator=settings.accelerator,
        devices=settings.devices,
        num_nodes=settings.num_nodes,
        strategy=settings.strategy,
        precision=settings.precision,
        gradient_clip_val=settings.gradient_clip_val,
        log_every_n_steps=settings.log_every_n_steps,
        max_steps=steps,
        max_epochs=-1,
        logger=CSVLogger(log_dir, name="logs", version=""),
        callbacks=[callback],
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=log_dir,
        num_sanity_val_steps=0,
        limit_val_batches=0,
    )
