"""train-teacher with the pretrained arbitrary-style network: taken as is, or fine-tuned on the painting."""

from __future__ import annotations

from pathlib import Path

import torch
import yaml

from stylectl.pipelines.config import RunConfig
from stylectl.pipelines.models.arbitrary import ArbitraryStylizer
from stylectl.pipelines.progress import PlainReporter
from stylectl.pipelines.readers import load_student, load_teacher
from stylectl.pipelines.runner import plan_stage, run_stages
from tests.conftest import TINY_CONFIG


def _build(tmp_path: Path, teacher: dict, target: str) -> dict:
    data = yaml.safe_load(yaml.safe_dump(TINY_CONFIG))
    data["teacher"] = {**teacher, "trainer": {"accelerator": "cpu", "log_every_n_steps": 1}}
    outcomes = run_stages(RunConfig.model_validate(data), plan_stage(target), tmp_path / "checkpoints", PlainReporter())
    return {outcome.stage: outcome.artifact for outcome in outcomes}


def test_a_pretrained_teacher_needs_no_training_and_a_student_learns_from_it(tmp_path: Path):
    artifacts = _build(tmp_path, {"pretrained": "arbitrary"}, "distill")
    teacher_artifact = artifacts["train-teacher"]
    metrics = teacher_artifact.metrics
    assert metrics["pretrained"] == "arbitrary"
    assert metrics["macs"] > 0 and metrics["params"] > 100_000
    assert (teacher_artifact.folder / "val" / "pretrained.png").exists()
    teacher = load_teacher(teacher_artifact)
    assert isinstance(teacher, ArbitraryStylizer) and float(teacher.style_vector.abs().sum()) > 0
    student = load_student(artifacts["distill"])
    assert student(torch.rand(1, 3, 32, 32)).shape == (1, 3, 32, 32)


def test_init_fine_tunes_the_pretrained_weights_and_keeps_the_paintings_vector(tmp_path: Path):
    pretrained = load_teacher(_build(tmp_path / "a", {"pretrained": "arbitrary"}, "train-teacher")["train-teacher"])
    tuned_artifact = _build(tmp_path / "b", {"init": "arbitrary", "steps": 2, "batch_size": 2, "lr": 0.01,
                                             "content_layers": ["relu2_2"], "style_layers": ["relu1_2", "relu2_2"]},
                            "train-teacher")["train-teacher"]
    tuned = load_teacher(tuned_artifact)
    assert isinstance(tuned, ArbitraryStylizer)
    assert torch.equal(tuned.style_vector, pretrained.style_vector)
    changed = [name for name, value in tuned.state_dict().items()
               if not torch.equal(value, pretrained.state_dict()[name])]
    assert changed and "style_vector" not in changed
    assert tuned_artifact.metrics["heldout_before"] != tuned_artifact.metrics["heldout_after"]
