"""What the student is taught: the teacher's pixels, its VGG features, its inner features,
the Gram matrices of its output, (optionally) the style image's Gram matrices, and to move with
the scene (temporal_loss.py: no flicker in videos).

Feature distillation compares named intermediate outputs ("taps") of the two networks; a
learned 1x1 conv per tap maps the student's narrower features to the teacher's width. The
adapters are trained with the student and thrown away afterwards.
"""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from stylectl.pipelines.config import RunConfig, StudentConfig
from stylectl.pipelines.data import style_tensor
from stylectl.pipelines.errors import UserInputError
from stylectl.pipelines.models.vgg import VGGFeatures
from stylectl.pipelines.train.losses import gram_distance, perceptual_distance, pixel_loss, style_grams, style_loss
from stylectl.pipelines.train.temporal_loss import temporal_loss


class _Recorder:
    """Forward hooks that keep the latest output of each tapped module."""

    def __init__(self, taps: dict[str, nn.Module], names: list[str]) -> None:
        self.outputs: dict[str, Tensor] = {}
        for name in names:
            taps[name].register_forward_hook(self._hook(name))

    def _hook(self, name: str) -> Callable:
        def keep(module, inputs, output) -> None:
            self.outputs[name] = output
        return keep


def loss_style(config: RunConfig) -> Tensor | None:
    """The style image the loss's style term compares with, read only when `student.style_weight` uses it
    (a config without a style image cannot set that weight: its validation refuses it)."""
    return style_tensor(config.style.image, config.style.size) if config.student.style_weight else None


class DistillationLoss(nn.Module):
    """Weighted distillation terms for one batch; `forward` returns (terms, student output, teacher output)."""

    def __init__(self, student: nn.Module, teacher: nn.Module, settings: StudentConfig, style: Tensor | None) -> None:
        super().__init__()
        self.student = student
        self.teacher = teacher
        self.settings = settings
        grams_needed = settings.style_weight or settings.teacher_gram_weight
        vgg_layers = sorted({*(settings.perceptual_layers if settings.perceptual_weight else []),
                             *(settings.style_layers if grams_needed else [])})
        self.vgg = VGGFeatures(vgg_layers) if vgg_layers else None
        if settings.style_weight:
            for name, gram in style_grams(self.vgg, style, settings.style_layers).items():
                self.register_buffer(f"gram_{name}", gram, persistent=False)
        self.adapters = nn.ModuleDict()
        if settings.feature_weight:
            self._attach_feature_taps(settings.feature_taps)

    def _attach_feature_taps(self, names: list[str]) -> None:
        if not hasattr(self.teacher, "feature_taps"):
            raise UserInputError("student.feature_weight: feature distillation needs a torch teacher "
                                 "(an ONNX teacher exposes no inner features); set it to 0")
        teacher_taps, student_taps = self.teacher.feature_taps(), self.student.feature_taps()
        unknown = [name for name in names if name not in teacher_taps or name not in student_taps]
        if unknown:
            raise UserInputError(f"student.feature_taps: unknown tap(s) {unknown}; choose from {sorted(student_taps)}")
        self.teacher_features = _Recorder(teacher_taps, names)
        self.student_features = _Recorder(student_taps, names)
        for name in names:
            self.adapters[name] = nn.Identity()  # sized by rebuild_adapters
        self.rebuild_adapters()

    def rebuild_adapters(self) -> None:
        """Fresh 1x1 adapters sized to the student's current tap widths (they change when pruned)."""
        if not self.adapters:
            return
        teacher_channels, student_channels = self.teacher.tap_channels(), self.student.tap_channels()
        for name in self.adapters:
            self.adapters[name] = nn.Conv2d(student_channels[name], teacher_channels[name], 1)

    def forward(self, batch: Tensor, step: int | None = None) -> tuple[dict[str, Tensor], Tensor, Tensor]:
        """`step`: the distillation run's optimizer step (a term that starts later is left out before
        it); None counts every term: validation, and fine-tunes of an already distilled student."""
        settings = self.settings
        texture = settings.teacher_gram_weight > 0 and (step is None or step >= settings.teacher_gram_start)
        with torch.no_grad():
            target = self.teacher(batch)
        output = self.student(batch)
        terms = {"pixel": settings.pixel_weight * pixel_loss(output, target, settings.pixel_loss)}
        if settings.perceptual_weight:
            terms["perceptual"] = settings.perceptual_weight * perceptual_distance(
                self.vgg, output, target, settings.perceptual_layers)
        crops = settings.teacher_gram_crops or len(batch)
        if settings.style_weight or texture:
            # VGG works image by image, so the first crops' features are a slice of the whole batch's
            features = self.vgg(output if settings.style_weight else output[:crops], settings.style_layers)
        if settings.style_weight:
            grams = {name: getattr(self, f"gram_{name}") for name in settings.style_layers}
            terms["style"] = settings.style_weight * style_loss(features, grams)
        if texture:
            with torch.no_grad():
                target_features = self.vgg(target[:crops], settings.style_layers)
            terms["teacher_gram"] = settings.teacher_gram_weight * gram_distance(
                {name: value[:crops] for name, value in features.items()}, target_features, settings.style_layers,
                relative=settings.teacher_gram_normalized)
        if settings.feature_weight:
            terms["feature"] = settings.feature_weight * sum(
                F.mse_loss(self.adapters[name](self.student_features.outputs[name]),
                           self.teacher_features.outputs[name].detach())
                for name in self.adapters)
        if settings.temporal_weight:
            terms["temporal"] = settings.temporal_weight * temporal_loss(self.student, batch, output)
        terms["total"] = sum(terms.values())
        return terms, output, target
