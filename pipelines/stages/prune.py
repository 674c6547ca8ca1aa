"""prune: remove whole student channels (torch-pruning DepGraph), fine-tuning after each step.

Structured pruning is what dense runtimes actually skip. Each of `schedule_steps` steps
removes its share and is followed by a short distillation fine-tune against the teacher;
the quality after every step is recorded. Optional unstructured sparsity comes last.
"""

from __future__ import annotations

import dataclasses
import io
import shutil
import zipfile

import pytorch_lightning as pl
import torch

from stylectl.pipelines.context import StageContext
from stylectl.pipelines.data import eval_batch, load_images
from stylectl.pipelines.measure.metrics import fidelity
from stylectl.pipelines.models.cost import count_macs, count_params
from stylectl.pipelines.models.pruning import prune_steps, sparsify
from stylectl.pipelines.models.spec import load_model, save_model, spec_of
from stylectl.pipelines.readers import STUDENT_FILE, load_teacher, student_file
from stylectl.pipelines.train.datamodule import ContentDataModule, RandomCropDataset
from stylectl.pipelines.train.distill_loss import DistillationLoss, loss_style
from stylectl.pipelines.train.trainer import fit
from stylectl.pipelines.train.training import LearningRate, StudentModule

OUTPUT = STUDENT_FILE  # readers.load_student opens it


def run(ctx: StageContext) -> dict:
    config, settings = ctx.config, ctx.config.prune
    source = student_file(ctx.inputs["distill"])
    if not settings.enabled:
        shutil.copyfile(source, ctx.out_dir / OUTPUT)
        return {"pruned": False}
    pl.seed_everything(config.seed, workers=True, verbose=False)
    size = config.data.eval_size
    student = load_model(source)
    teacher = load_teacher(ctx.inputs["train-teacher"])
    heldout = eval_batch(ctx.images.heldout, size)
    loss = DistillationLoss(student, teacher, config.student, loss_style(config))

    def measure() -> dict:
        return {"params": count_params(student), "macs": count_macs(student, size),
                **fidelity(student, teacher, heldout)}

    history = [{"step": 0, **measure()}]
    for step in prune_steps(student, settings, size, _taylor_gradients(ctx, loss)):
        pruned = measure()
        if settings.finetune_steps:
            # Each fine-tune resumes from its own checkpoints: the shapes differ between steps.
            step_ctx = dataclasses.replace(ctx, resume_dir=ctx.resume_dir / f"step{step['step']}")
            _finetune(step_ctx, loss, step["step"])
        history.append({**step, "before_finetune": pruned, **measure()})
        ctx.reporter.line(f"  prune step {step['step']}: {history[-1]['macs'] / 1e6:.0f} MMACs, "
                          f"PSNR {pruned['psnr_vs_teacher']:.2f} -> {history[-1]['psnr_vs_teacher']:.2f} dB")
    save_model(student, ctx.out_dir / OUTPUT)
    metrics = {"pruned": True, "spec": spec_of(student).params, "before": history[0], "after": history[-1],
               "history": history, "macs_ratio": history[-1]["macs"] / history[0]["macs"]}
    if settings.sparsity:
        metrics["sparsity"] = _sparsify_copy(ctx, settings.sparsity, teacher, heldout)
    return metrics


def _finetune(ctx: StageContext, loss: DistillationLoss, step: int) -> None:
    """Recover what pruning step `step` lost, with the distillation recipe itself."""
    config, settings = ctx.config, ctx.config.prune
    loss.rebuild_adapters()  # the student's tap widths may have changed
    data = ContentDataModule(ctx.images, config.data.crop_size, settings.batch_size, settings.finetune_steps,
                             config.seed, config.data.eval_size, config.data.max_side, config.student.augment)
    lr = LearningRate(settings.lr, config.student.lr_schedule, settings.finetune_steps)
    module = StudentModule(loss, lr, ctx.out_dir / "val" / f"step{step}", config.student.adversarial,
                           config.student.trainer.gradient_clip_val)
    fit(ctx, module, data, config.student.trainer, settings.finetune_steps,
        f"prune fine-tune {step}/{settings.schedule_steps}", logs=f"logs/step{step}")


def _taylor_gradients(ctx: StageContext, loss: DistillationLoss):
    """A backward pass of the distillation loss on training crops, for Taylor importance."""
    config = ctx.config

    def backward() -> None:
        images, _ = load_images(ctx.images.train, config.data.max_side)
        crops = RandomCropDataset(images, config.data.crop_size, config.prune.batch_size, config.seed)
        batch = torch.stack([crops[index] for index in range(len(crops))])
        loss.student.zero_grad()
        loss.student.train()
        loss(batch)[0]["total"].backward()
        loss.student.eval()

    return backward


def _sparsify_copy(ctx: StageContext, amount: float, teacher, heldout) -> dict:
    """Sparsify a copy of the pruned student; write it beside the dense one with its compressed size."""
    model = load_model(ctx.out_dir / OUTPUT)
    dense_zip = _zipped_size(ctx.out_dir / OUTPUT)
    achieved = sparsify(model, amount)
    path = ctx.out_dir / "student_sparse.safetensors"
    save_model(model, path)
    return {"requested": amount, "achieved": achieved, "zip_bytes_dense": dense_zip, "zip_bytes_sparse": _zipped_size(path),
            **fidelity(model, teacher, heldout),
            "note": "zeros shrink the compressed file; dense runtimes still compute them, so latency is unchanged"}


def _zipped_size(path) -> int:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.write(path, path.name)
    return len(buffer.getvalue())
