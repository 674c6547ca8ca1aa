"""distill: train the NPU-friendly student to reproduce the teacher's output."""

from __future__ import annotations

import pytorch_lightning as pl

from stylectl.pipelines.context import StageContext
from stylectl.pipelines.data import eval_batch
from stylectl.pipelines.measure.metrics import fidelity
from stylectl.pipelines.models.cost import count_macs, count_params
from stylectl.pipelines.models.spec import save_model
from stylectl.pipelines.models.student import StudentNet, student_params_for
from stylectl.pipelines.readers import STUDENT_FILE, is_torch_teacher, load_teacher
from stylectl.pipelines.train.datamodule import ContentDataModule
from stylectl.pipelines.train.distill_loss import DistillationLoss, loss_style
from stylectl.pipelines.train.trainer import fit
from stylectl.pipelines.train.training import LearningRate, StudentModule

OUTPUT = STUDENT_FILE  # readers.load_student opens it
GRIDS = "val"


def run(ctx: StageContext) -> dict:
    config, settings = ctx.config, ctx.config.student
    pl.seed_everything(config.seed, workers=True, verbose=False)
    teacher = load_teacher(ctx.inputs["train-teacher"])
    student = StudentNet(**student_params_for(settings))
    loss = DistillationLoss(student, teacher, settings, loss_style(config))
    lr = LearningRate(settings.lr, settings.lr_schedule, settings.steps)
    module = StudentModule(loss, lr, ctx.out_dir / GRIDS, settings.adversarial,
                           settings.trainer.gradient_clip_val)
    data = ContentDataModule(ctx.images, config.data.crop_size, settings.batch_size, settings.steps,
                             config.seed, config.data.eval_size, config.data.max_side, settings.augment)
    trainer, progress = fit(ctx, module, data, settings.trainer, settings.steps, "distill")
    if trainer.is_global_zero:
        save_model(student, ctx.out_dir / OUTPUT)
    return {
        "params": count_params(student),
        "macs": count_macs(student, config.data.eval_size),
        "teacher_macs": count_macs(teacher, config.data.eval_size) if is_torch_teacher(teacher)
        else teacher.macs(config.data.eval_size),
        "final_loss": progress.last_loss,
        "images_per_second": round(progress.images_per_second, 2),
        **fidelity(student, teacher, eval_batch(ctx.images.heldout, config.data.eval_size)),
    }

