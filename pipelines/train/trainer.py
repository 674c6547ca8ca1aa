"""Build a Lightning Trainer from a YAML `trainer:` section and fit a module in a stage.

One function serves every training stage (teacher, distillation, prune fine-tune), so
resume, checkpoints, logs, validation cadence and fault handling behave the same in all.
"""

from __future__ import annotations

import signal

import pytorch_lightning as pl
from pytorch_lightning.callbacks import EMAWeightAveraging, LearningRateMonitor, ModelCheckpoint
from pytorch_lightning.loggers import CSVLogger, TensorBoardLogger
from pytorch_lightning.utilities.exceptions import SIGTERMException

from stylectl.pipelines.config import TrainerConfig
from stylectl.pipelines.context import StageContext
from stylectl.pipelines.quiet import quiet_libraries
from stylectl.pipelines.train.callbacks import RESUME_CHECKPOINT, FiniteLossGuard, InterruptCheckpoint, ReporterCallback
from stylectl.pipelines.train.interrupts import stop_requests


def fit(ctx: StageContext, module: pl.LightningModule, data: pl.LightningDataModule, settings: TrainerConfig,
        steps: int, description: str, logs: str = "logs") -> tuple[pl.Trainer, ReporterCallback]:
    """Train `module` for `steps` batches; resume from the stage's last checkpoint when asked.

    Logs (CSV and TensorBoard) go to `out_dir/<logs>`; a stage that trains several times
    names a folder per run so one does not overwrite another.

    Checkpoints go to the stage's resume folder, which survives a crash or Ctrl-C (the
    stage's output folder does not) and is removed once the stage succeeds.
    """
    quiet_libraries()  # again: importing Lightning resets its own log level
    progress = ReporterCallback(ctx.reporter, description, steps)
    checkpoints = ModelCheckpoint(dirpath=ctx.resume_dir, every_n_train_steps=settings.checkpoint_every_n_steps,
                                  save_last=True, save_top_k=0, enable_version_counter=False)
    interrupts = InterruptCheckpoint(ctx.reporter, ctx.resume_dir, description)
    callbacks = [progress, FiniteLossGuard(description, ctx.resume_dir), interrupts, checkpoints,
                 LearningRateMonitor(logging_interval="step")]  # the `lr-Adam` column of the logs
    if settings.ema_decay is not None:
        callbacks.append(EMAWeightAveraging(decay=settings.ema_decay))
    # With manual optimization (the adversarial teacher) each batch makes several optimizer
    # steps and Lightning counts those; max_steps must count them too.
    optimizer_steps = steps * getattr(module, "optimizer_steps_per_batch", 1)
    validate = settings.val_every_n_steps > 0
    trainer = pl.Trainer(
        accelerator=settings.accelerator,
        devices=settings.devices,
        num_nodes=settings.num_nodes,
        strategy=settings.strategy,
        precision=settings.precision,
        gradient_clip_val=settings.gradient_clip_val if module.automatic_optimization else None,
        log_every_n_steps=settings.log_every_n_steps,
        max_steps=optimizer_steps,
        max_epochs=-1,
        logger=[CSVLogger(ctx.out_dir, name=logs, version=""),
                TensorBoardLogger(ctx.out_dir, name=logs, version="tensorboard", default_hp_metric=False)],
        callbacks=callbacks,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=ctx.out_dir,
        num_sanity_val_steps=0,
        val_check_interval=min(settings.val_every_n_steps, steps) if validate else None,
        check_val_every_n_epoch=None if validate else 1,
        limit_val_batches=1.0 if validate else 0,
    )
    last = ctx.resume_dir / RESUME_CHECKPOINT
    resume_from = last if ctx.resume and last.exists() else None
    if resume_from:
        ctx.reporter.line(f"  resuming from {resume_from}")
    with stop_requests():
        try:
            trainer.fit(module, datamodule=data, ckpt_path=resume_from, weights_only=True)
        except SIGTERMException as lightning_stop:  # a SystemExit that would exit 0; see InterruptCheckpoint
            raise interrupts.stopped(trainer, signal.SIGTERM) from lightning_stop
    return trainer, progress
