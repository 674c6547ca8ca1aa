"""Lightning callbacks: progress for stylectl's reporter, a NaN guard, a checkpoint on Ctrl-C or SIGTERM."""

from __future__ import annotations

import math
import signal
import time
from contextlib import ExitStack
from pathlib import Path

import pytorch_lightning as pl
from pytorch_lightning.utilities.exceptions import SIGTERMException

from stylectl.pipelines.errors import StylectlError
from stylectl.pipelines.progress import Reporter
from stylectl.pipelines.train.interrupts import Interrupted, requested_signal

RESUME_CHECKPOINT = "last.ckpt"


class ReporterCallback(pl.Callback):
    """Feeds training progress to the stylectl reporter (rank zero only) and measures throughput."""

    def __init__(self, reporter: Reporter, description: str, total_steps: int) -> None:
        self.reporter = reporter
        self.description = description
        self.total_steps = total_steps
        self.batches = 0
        self.samples = 0
        self.seconds = 0.0
        self.last_loss = float("nan")
        self._stack = ExitStack()
        self._task = None
        self._started = 0.0

    def on_train_start(self, trainer: pl.Trainer, module: pl.LightningModule) -> None:
        self._started = time.monotonic()
        # On --resume the loop starts part-way; count from where it stands.
        self.batches = trainer.global_step // getattr(module, "optimizer_steps_per_batch", 1)
        if trainer.is_global_zero:
            self._task = self._stack.enter_context(self.reporter.task(self.description, self.total_steps))

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_index) -> None:
        self.batches += 1
        self.samples += batch.shape[0] * trainer.world_size
        self.last_loss = float(outputs["loss"])
        if self._task:
            self._task.update(min(self.batches, self.total_steps), loss=self.last_loss)

    def on_train_end(self, trainer: pl.Trainer, module: pl.LightningModule) -> None:
        self.seconds = time.monotonic() - self._started
        self._stack.close()

    @property
    def images_per_second(self) -> float:
        return self.samples / self.seconds if self.seconds else 0.0


class FiniteLossGuard(pl.Callback):
    """Stop at the first NaN/inf loss, before the checkpoint callback can save a broken model.

    Lightning runs ModelCheckpoint after the other callbacks, so the last checkpoint on disk
    is always from a step whose loss was finite.
    """

    def __init__(self, description: str, resume_dir: Path) -> None:
        self.description = description
        self.resume_dir = resume_dir

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_index) -> None:
        loss = float(outputs["loss"])
        if not math.isfinite(loss):
            saved = self.resume_dir / RESUME_CHECKPOINT
            kept = f"the last good checkpoint is {saved}" if saved.exists() else "no checkpoint was saved yet"
            raise StylectlError(
                f"{self.description}: loss became {loss} at step {trainer.global_step}; stopped ({kept}). "
                "Try a lower learning rate, gradient clipping (trainer.gradient_clip_val) or 32-true precision."
            )


class InterruptCheckpoint(pl.Callback):
    """On a stop request (Ctrl-C, SIGTERM), save a checkpoint `--resume` continues from, then stop.

    The request is a flag set by pipelines/train/interrupts.py and read after each batch, so it is
    never lost and the checkpoint is always at a batch boundary. In DDP every rank checks it
    with one boolean all-reduce, so all ranks stop at the same step (a signal may reach only
    some of them). A KeyboardInterrupt (a second Ctrl-C) still saves a checkpoint when it can.

    Lightning also watches SIGTERM (it chains our handler) and raises its own
    `SIGTERMException`, a `SystemExit` that would exit 0, at the batch and epoch boundaries
    after this callback's check: a SIGTERM landing in between (say, while a periodic
    checkpoint is written) reaches that check first. `on_exception` saves there too, and
    `stopped` turns it into the same `Interrupted` error.
    """

    def __init__(self, reporter: Reporter, resume_dir: Path, description: str) -> None:
        self.reporter = reporter
        self.resume_dir = resume_dir
        self.description = description

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_index) -> None:
        signal_number = requested_signal()
        stop = signal_number is not None
        if trainer.world_size > 1:
            stop = trainer.strategy.reduce_boolean_decision(stop, all=False)
        if not stop:
            return
        trainer.save_checkpoint(self.resume_dir / RESUME_CHECKPOINT)
        raise self.stopped(trainer, signal_number or signal.SIGINT)

    def stopped(self, trainer: pl.Trainer, signal_number: int) -> Interrupted:
        """The error a stop exits with: where training stood and how to continue."""
        return Interrupted(f"{self.description}: interrupted at step {trainer.global_step}; saved "
                           f"{self.resume_dir / RESUME_CHECKPOINT}; run the same command with --resume to continue",
                           signal_number)

    def on_exception(self, trainer: pl.Trainer, module: pl.LightningModule, exception: BaseException) -> None:
        if not isinstance(exception, (KeyboardInterrupt, SIGTERMException)) or trainer.world_size > 1:
            return  # in DDP the periodic checkpoints are what a resume uses
        path = self.resume_dir / RESUME_CHECKPOINT
        trainer.save_checkpoint(path)
        if isinstance(exception, KeyboardInterrupt):  # a SIGTERMException says so through `stopped` (trainer.fit)
            self.reporter.line(f"interrupted at step {trainer.global_step}; saved {path}; "
                               "run the same command with --resume to continue")
