"""prune: remove whole student channels with torch-pruning's DepGraph, then fine-tune.

Structured pruning is what dense runtimes actually skip; DepGraph keeps residual adds,
depthwise groups and the up path consistent, so no hand-written graph walk is needed.
"""

from __future__ import annotations

import shutil

import pytorch_lightning as pl
import torch
from torch import nn

from stylectl.pipelines.config import PruneConfig
from stylectl.pipelines.context import StageContext
from stylectl.pipelines.data import eval_batch, style_tensor
from stylectl.pipelines.datamodule import ContentDataModule
from stylectl.pipelines.distill_loss import DistillationLoss
from stylectl.pipelines.errors import UserInputError
from stylectl.pipelines.metrics import fidelity
from stylectl.pipelines.models.cost import count_macs, count_params
from stylectl.pipelines.models.spec import load_model, save_model, spec_of
from stylectl.pipelines.teacher_artifact import load_teacher
from stylectl.pipelines.trainer import fit
from stylectl.pipelines.training import StudentModule

OUTPUT = "student.safetensors"


def run(ctx: StageContext) -> dict:
    config, settings = ctx.config, ctx.config.prune
    source = ctx.inputs["distill"].path("student.safetensors")
    if not settings.enabled:
        shutil.copyfile(source, ctx.out_dir / OUTPUT)
        return {"pruned": False}
    pl.seed_everything(config.seed, workers=True, verbose=False)
    student = load_model(source)
    teacher = load_teacher(ctx.inputs["train-teacher"])
    heldout = eval_batch(ctx.images.heldout, config.data.eval_size)
    before = {"params": count_params(student), "macs": count_macs(student, config.data.eval_size),
              **fidelity(student, teacher, heldout)}

    remove_channels(student, settings)
    after_prune = fidelity(student, teacher, heldout)
    if settings.finetune_steps:
        data = ContentDataModule(ctx.images, config.data.crop_size, settings.batch_size, settings.finetune_steps,
                                 config.seed, config.data.eval_size, config.data.max_side)
        # The fine-tune restores what pruning lost with the distillation recipe itself.
        loss = DistillationLoss(student, teacher, config.student, style_tensor(config.style.image, config.style.size))
        module = StudentModule(loss, settings.lr, ctx.out_dir / "val", config.student.adversarial,
                               config.student.trainer.gradient_clip_val)
        fit(ctx, module, data, config.student.trainer, settings.finetune_steps, "prune fine-tune")
    save_model(student, ctx.out_dir / OUTPUT)
    return {
        "pruned": True,
        "spec": spec_of(student).params,
        "before": before,
        "after_prune": after_prune,
        "after": {"params": count_params(student), "macs": count_macs(student, config.data.eval_size),
                  **fidelity(student, teacher, heldout)},
    }


def remove_channels(model: nn.Module, settings: PruneConfig) -> None:
    """Prune `channel_ratio` of the prunable channels in place, by weight magnitude."""
    import torch_pruning as tp

    ignored = [module for name, module in model.named_modules()
               if isinstance(module, nn.Conv2d) and any(name.startswith(prefix) for prefix in settings.ignore_layers)]
    names = {name.split(".")[0] for name, _ in model.named_modules() if name}
    unknown = [prefix for prefix in settings.ignore_layers if prefix.split(".")[0] not in names]
    if unknown:
        raise UserInputError(f"prune.ignore_layers: no student layer named {unknown} (layers: {sorted(names)})")
    importance = tp.importance.MagnitudeImportance(p=1 if settings.importance == "l1" else 2)
    pruner = tp.pruner.MetaPruner(
        model.eval(), torch.rand(1, 3, 64, 64), importance=importance, pruning_ratio=settings.channel_ratio,
        ignored_layers=ignored, round_to=settings.round_to,
    )
    pruner.step()
