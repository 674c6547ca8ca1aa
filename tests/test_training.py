"""The learning-rate schedule: cosine decays the student's rate to zero by the last step, in
Lightning's automatic loop and in the manual one the adversarial term uses."""

from __future__ import annotations

import pytest
import pytorch_lightning as pl
import torch
import yaml
from torch.utils.data import DataLoader

from stylectl.pipelines.config import AdversarialConfig, RunConfig, StudentConfig
from stylectl.pipelines.models.student import StudentNet, student_params
from stylectl.pipelines.models.teacher import TransformerNet
from stylectl.pipelines.progress import PlainReporter
from stylectl.pipelines.readers import load_student
from stylectl.pipelines.runner import plan_stage, run_stages
from stylectl.pipelines.train.distill_loss import DistillationLoss
from stylectl.pipelines.train.training import LearningRate, StudentModule
from tests.conftest import TINY_CONFIG

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


def _distilled(tmp_path, steps: int, ema_decay: float | None) -> dict[str, torch.Tensor]:
    """The student a tiny distill stage saves (same seed, so the same crops in the same order)."""
    data = yaml.safe_load(yaml.safe_dump(TINY_CONFIG))
    data["student"].update(steps=steps, lr=0.05)
    data["student"]["trainer"]["ema_decay"] = ema_decay
    outcomes = run_stages(RunConfig.model_validate(data), plan_stage("distill"), tmp_path, PlainReporter())
    return load_student(outcomes[-1].artifact).state_dict()


def test_weight_averaging_saves_the_average_not_the_last_weights(tmp_path):
    """With a decay of almost 1 the average barely moves after its first update (a copy of the
    weights after step 1), so a 3-step run saves what a 1-step run saves, not its own last weights."""
    averaged = _distilled(tmp_path / "ema", 3, 0.999999)
    after_one, after_three = _distilled(tmp_path / "one", 1, None), _distilled(tmp_path / "three", 3, None)
    weight = "stem.conv.weight"
    assert torch.allclose(averaged[weight], after_one[weight], atol=1e-5)
    assert not torch.allclose(averaged[weight], after_three[weight], atol=1e-3)
