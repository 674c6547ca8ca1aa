"""The temporal-consistency term: zero for a model that moves with the scene, positive for one that does not,
on in distillation only when its weight is set."""

from __future__ import annotations

import pytest
import torch
import yaml
from torch import nn

from stylectl.pipelines.config import RunConfig, StudentConfig
from stylectl.pipelines.models.student import StudentNet, student_params
from stylectl.pipelines.models.teacher import TransformerNet
from stylectl.pipelines.train.distill_loss import DistillationLoss
from stylectl.pipelines.train.temporal_loss import moved_frame_size, random_moves, temporal_loss
from tests.conftest import TINY_CONFIG


def test_moves_stay_inside_the_crop():
    moves = random_moves(256, 96, 128, moved_frame_size(96), torch.Generator().manual_seed(0))
    for axis in (0, 1):  # |centre| + half-side <= 1 in the crop's normalized coordinates
        assert (moves[:, axis, 2].abs() + moves[:, axis, axis]).max() <= 1 + 1e-6
    assert moves[:, 0, 0].std() > 0 and moves[:, 0, 2].std() > 0  # zoom and shift vary


def test_zero_for_the_identity_and_positive_for_a_model_that_sees_position():
    batch = torch.rand(4, 3, 64, 64)
    assert temporal_loss(nn.Identity(), batch, batch) < 1e-12

    class Vignette(nn.Module):  # darkens towards the frame's edges: the same scene point changes as it moves
        def forward(self, x):
            ramp = torch.linspace(-1, 1, x.shape[-1]).abs()
            return x * (1 - 0.5 * ramp)

    vignette = Vignette()
    assert temporal_loss(vignette, batch, vignette(batch)) > 1e-4


def test_the_target_output_gets_no_gradient():
    """Only the moved frame's output is pulled: the crop's output stays where the pixel loss puts it."""
    batch = torch.rand(2, 3, 64, 64)
    model = nn.Conv2d(3, 3, 3, padding=1)
    output = model(batch).detach().requires_grad_()
    temporal_loss(model, batch, output).backward()
    assert output.grad is None
    assert model.weight.grad.abs().sum() > 0


def test_the_term_is_on_only_with_its_weight_and_trains_the_student():
    torch.manual_seed(0)
    student, teacher = StudentNet(**student_params(0.25, 1, 1.0)), TransformerNet(width=4, res_blocks=1).eval()
    batch = torch.rand(2, 3, 64, 64)
    assert "temporal" not in DistillationLoss(student, teacher, StudentConfig(), None)(batch)[0]
    terms, _, _ = DistillationLoss(student, teacher, StudentConfig(temporal_weight=10.0), None)(batch)
    assert terms["temporal"] > 0
    terms["temporal"].backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in student.parameters())


def test_the_term_needs_crops_with_room_to_move():
    data = yaml.safe_load(yaml.safe_dump(TINY_CONFIG))
    data["student"]["temporal_weight"] = 1.0
    with pytest.raises(ValueError, match="crop_size >= 64"):
        RunConfig.model_validate(data)
