"""The learning-rate schedule: cosine decays the student's rate to zero by the last step, in
Lightning's automatic loop and in the manual one the adversarial term uses."""

from __future__ import annotations

import pytest
import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader

from stylectl.pipelines.config import AdversarialConfig, StudentConfig
from stylectl.pipelines.models.student import StudentNet, student_params
from stylectl.pipelines.models.teacher import TransformerNet
from stylectl.pipelines.train.distill_loss import DistillationLoss
from stylectl.pipelines.train.training import LearningRate, StudentModule

STEPS, PEAK = 4, 0.01


def _learning_rates_seen(tmp_path, schedule: str, adversarial: bool) -> list[float]:
    """Fit a tiny student for STEPS batches; return the generator's rate at the start of each."""
    torch.manual_seed(0)
    student = StudentNet(**student_params(0.25, 1, 1.0))
    loss = DistillationLoss(student, TransformerNet(width=4, res_blocks=1).eval(), StudentConfig(), None)
    module = StudentModule(loss, LearningRate(PEAK, schedule, STEPS), tmp_path / "val",
                           AdversarialConfig(enabled=adversarial, width=4, layers=1), None)
    seen: list[float] = []

    class Record(pl.Callback):
        def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
            seen.append(trainer.optimizers[0].param_groups[0]["lr"])

    trainer = pl.Trainer(accelerator="cpu", max_steps=STEPS * module.optimizer_steps_per_batch, max_epochs=-1,
                         logger=False, enable_checkpointing=False, enable_progress_bar=False,
                         enable_model_summary=False, limit_val_batches=0, callbacks=[Record()])
    trainer.fit(module, DataLoader(torch.rand(2 * STEPS, 3, 16, 16), batch_size=2))
    return seen


@pytest.mark.parametrize("adversarial", [False, True], ids=["automatic", "manual"])
def test_cosine_decays_the_rate_every_batch(tmp_path, adversarial):
    seen = _learning_rates_seen(tmp_path, "cosine", adversarial)
    # CosineAnnealingLR over STEPS: PEAK * (1 + cos(pi * step / STEPS)) / 2 before each step.
    assert seen == pytest.approx([PEAK, PEAK * 0.8536, PEAK * 0.5, PEAK * 0.1464], rel=1e-3)


def test_constant_keeps_the_rate(tmp_path):
    assert _learning_rates_seen(tmp_path, "constant", False) == [PEAK] * STEPS
