"""Distillation terms: each weight switches its term on, adapters bridge the channel gap."""

from __future__ import annotations

import pytest
import torch

from stylectl.pipelines.config import StudentConfig
from stylectl.pipelines.errors import UserInputError
from stylectl.pipelines.models.student import StudentNet, student_params
from stylectl.pipelines.models.teacher import TransformerNet
from stylectl.pipelines.train.distill_loss import DistillationLoss
from stylectl.pipelines.train.losses import gram_matrix


def _pair():
    torch.manual_seed(0)
    return StudentNet(**student_params(0.25, 1, 1.0)), TransformerNet(width=4, res_blocks=1).eval()


def test_pixel_only_by_default():
    student, teacher = _pair()
    terms, output, target = DistillationLoss(student, teacher, StudentConfig(), None)(torch.rand(2, 3, 32, 32))
    assert set(terms) == {"pixel", "total"}
    assert output.shape == target.shape == (2, 3, 32, 32)


def test_every_term_and_its_gradient_reach_the_student_and_adapters():
    student, teacher = _pair()
    settings = StudentConfig(perceptual_weight=1.0, perceptual_layers=["relu1_2"], style_weight=1.0,
                             style_layers=["relu1_2"], feature_weight=1.0)
    loss = DistillationLoss(student, teacher, settings, torch.rand(3, 32, 32))
    terms, _, _ = loss(torch.rand(2, 3, 32, 32))
    assert set(terms) == {"pixel", "perceptual", "style", "feature", "total"}
    assert all(torch.isfinite(value) and value > 0 for value in terms.values())
    terms["total"].backward()
    assert all(adapter.weight.grad is not None for adapter in loss.adapters.values())
    assert student.stem.conv.weight.grad is not None
    assert all(p.grad is None for p in teacher.parameters())
    assert set(loss.adapters) == {"down2", "res_last", "up1"}


def test_unknown_feature_tap_is_a_config_error():
    student, teacher = _pair()
    with pytest.raises(UserInputError, match="student.feature_taps: unknown tap"):
        DistillationLoss(student, teacher, StudentConfig(feature_weight=1.0, feature_taps=["nope"]), None)


def test_teacher_gram_on_the_first_crops_equals_the_term_on_those_crops_alone():
    """teacher_gram_crops=1 on a batch of 3 is the full term on its first crop: the other crops
    still get the pixel loss but cost no VGG pass."""
    student, teacher = _pair()
    student.eval()  # BatchNorm in training mode would mix the crops of a batch
    batch = torch.rand(3, 3, 32, 32)
    one = DistillationLoss(student, teacher, StudentConfig(teacher_gram_weight=1.0, teacher_gram_crops=1,
                                                          style_layers=["relu1_2", "relu2_2"]), None)
    full = DistillationLoss(student, teacher, StudentConfig(teacher_gram_weight=1.0,
                                                           style_layers=["relu1_2", "relu2_2"]), None)
    on_first = float(one(batch)[0]["teacher_gram"])
    assert on_first == pytest.approx(float(full(batch[:1])[0]["teacher_gram"]), rel=1e-5)
    assert on_first != pytest.approx(float(full(batch)[0]["teacher_gram"]), rel=1e-3)
    with_style = DistillationLoss(student, teacher, StudentConfig(
        teacher_gram_weight=1.0, teacher_gram_crops=1, style_weight=1.0, style_layers=["relu1_2", "relu2_2"]),
        torch.rand(3, 32, 32))(batch)[0]
    assert float(with_style["teacher_gram"]) == pytest.approx(on_first, rel=1e-5)  # style loss sees all 3


def test_normalized_teacher_gram_is_the_distance_relative_to_the_teachers_gram_magnitude():
    """The normalized term is the absolute one divided by the teacher's Gram magnitude on the same
    crops (summed over the layers), so teachers whose textures differ in scale share one weight."""
    student, teacher = _pair()
    student.eval()
    batch = torch.rand(2, 3, 32, 32)
    layers = ["relu1_2", "relu2_2"]
    absolute = DistillationLoss(student, teacher, StudentConfig(teacher_gram_weight=1.0, style_layers=layers), None)
    normalized = DistillationLoss(student, teacher, StudentConfig(
        teacher_gram_weight=1.0, teacher_gram_normalized=True, style_layers=layers), None)
    with torch.no_grad():
        target_features = absolute.vgg(teacher(batch), layers)
    magnitude = sum(float(gram_matrix(target_features[name]).pow(2).mean()) for name in layers)
    assert float(normalized(batch)[0]["teacher_gram"]) == pytest.approx(
        float(absolute(batch)[0]["teacher_gram"]) / magnitude, rel=1e-5)


def test_teacher_gram_starts_at_its_step_and_validation_always_reports_it():
    student, teacher = _pair()
    loss = DistillationLoss(student, teacher, StudentConfig(teacher_gram_weight=1.0, teacher_gram_start=10,
                                                           style_layers=["relu1_2"]), None)
    batch = torch.rand(2, 3, 32, 32)
    assert "teacher_gram" not in loss(batch, step=9)[0]
    assert "teacher_gram" in loss(batch, step=10)[0]
    assert "teacher_gram" in loss(batch)[0]
