"""A SIGTERM during training stops it with exit code 143 and a resumable checkpoint, wherever in
the batch it lands: before stylectl's own check, or after it, where Lightning's check (a
SystemExit that would exit 0) sees it first."""

from __future__ import annotations

import os
import signal

import pytest
import pytorch_lightning as pl
import torch

from stylectl.pipelines.config import TrainerConfig
from stylectl.pipelines.context import StageContext
from stylectl.pipelines.progress import PlainReporter
from stylectl.pipelines.train.interrupts import Interrupted
from stylectl.pipelines.train.trainer import fit

SIGNAL_AT_STEP = 3


class SignalledModule(pl.LightningModule):
    """A one-layer model that sends itself SIGTERM at SIGNAL_AT_STEP from the hook named `hook`.

    Lightning calls callbacks' `on_train_batch_end` before the module's, so a signal from the
    module's hook lands after stylectl's check of that batch and before Lightning's.
    """

    def __init__(self, hook: str) -> None:
        super().__init__()
        self.layer = torch.nn.Linear(4, 1)
        self.hook = hook

    def training_step(self, batch, batch_index):
        return self.layer(batch).square().mean()

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.01)

    def _maybe_signal(self, hook: str) -> None:
        if hook == self.hook and self.trainer.global_step == SIGNAL_AT_STEP:
            os.kill(os.getpid(), signal.SIGTERM)

    def on_train_batch_start(self, batch, batch_index):
        self._maybe_signal("on_train_batch_start")

    def on_train_batch_end(self, outputs, batch, batch_index):
        self._maybe_signal("on_train_batch_end")


@pytest.mark.parametrize(("hook", "stopped_at"), [
    ("on_train_batch_start", SIGNAL_AT_STEP + 1),  # that batch still finishes
    ("on_train_batch_end", SIGNAL_AT_STEP),  # the batch has finished: stop right there
], ids=["before-stylectl-check", "after-stylectl-check"])
def test_sigterm_anywhere_in_a_batch_exits_143_with_a_resumable_checkpoint(tmp_path, hook, stopped_at):
    data = pl.LightningDataModule.from_datasets(train_dataset=torch.rand(64, 4), batch_size=2)
    ctx = StageContext(config=None, out_dir=tmp_path / "out", inputs={}, reporter=PlainReporter(),
                       resume_dir=tmp_path / "resume")
    settings = TrainerConfig(accelerator="cpu", val_every_n_steps=0, checkpoint_every_n_steps=1000)

    with pytest.raises(Interrupted, match=f"interrupted at step {stopped_at}; saved .*last.ckpt") as stop:
        fit(ctx, SignalledModule(hook), data, settings, steps=1000, description="tiny")

    assert stop.value.exit_code == 128 + signal.SIGTERM
    saved = torch.load(tmp_path / "resume" / "last.ckpt", map_location="cpu", weights_only=True)
    assert saved["global_step"] == stopped_at
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # handlers restored after training
