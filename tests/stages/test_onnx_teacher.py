"""A user's ONNX model as the teacher: its range and layout are declared, the chain runs on it."""

from __future__ import annotations

import pytest
import torch
import yaml
from torch import nn

from stylectl.pipelines.config import RunConfig
from stylectl.pipelines.errors import UserInputError
from stylectl.pipelines.models.cost import count_macs
from stylectl.pipelines.models.onnx_teacher import OnnxTeacher
from stylectl.pipelines.models.teacher import TransformerNet
from stylectl.pipelines.progress import PlainReporter
from stylectl.pipelines.runner import plan_chain, plan_stage, run_stages
from tests.conftest import TINY_CONFIG

pytestmark = pytest.mark.slow


class NhwcByteModel(nn.Module):
    """Takes NHWC 0..255, returns NHWC -1..1: a layout and ranges unlike stylectl's own."""

    def __init__(self) -> None:
        super().__init__()
        self.net = TransformerNet(width=4, res_blocks=1)

    def forward(self, x):
        y = self.net(x.permute(0, 3, 1, 2) / 255.0)
        return (y * 2 - 1).permute(0, 2, 3, 1)


@pytest.fixture(scope="module")
def onnx_model(tmp_path_factory):
    torch.manual_seed(0)
    model = NhwcByteModel().eval()
    path = tmp_path_factory.mktemp("onnx") / "teacher.onnx"
    program = torch.onnx.export(model, (torch.rand(1, 32, 32, 3) * 255,), dynamo=True, external_data=False)
    program.save(str(path))
    return model, path


def _config(path, **student) -> RunConfig:
    data = yaml.safe_load(yaml.safe_dump(TINY_CONFIG))
    data["teacher"]["onnx"] = {"path": str(path), "input_range": "0..255", "output_range": "-1..1", "layout": "nhwc"}
    data["student"].update(student)
    return RunConfig.model_validate(data)


def test_wrapper_converts_range_and_layout(onnx_model):
    model, path = onnx_model
    images = torch.rand(2, 3, 32, 32)
    expected = (model(images.permute(0, 2, 3, 1) * 255).permute(0, 3, 1, 2) + 1) / 2
    output = OnnxTeacher(path, "0..255", "-1..1", "nhwc")(images)
    assert torch.allclose(output, expected.clamp(0, 1), atol=1e-4)


def test_whole_chain_runs_on_an_onnx_teacher(onnx_model, tmp_path):
    model, path = onnx_model
    outcomes = run_stages(_config(path), plan_chain(None, None, None), tmp_path, PlainReporter())
    teacher_folder = outcomes[0].artifact.folder
    assert (teacher_folder / "teacher.onnx").exists() and not (teacher_folder / "teacher.safetensors").exists()
    rows = {row["artifact"]: row for row in outcomes[-1].artifact.metrics["rows"]}
    assert rows["teacher"]["psnr_vs_teacher"] == float("inf")
    assert rows["teacher (onnx)"]["latency_ms"] > 0
    assert rows["student fp32 (onnx)"]["speedup_vs_teacher"] > 0
    macs = count_macs(model.net, 32)  # the range and layout changes around it cost no MACs
    assert outcomes[0].artifact.metrics["macs"] == outcomes[1].artifact.metrics["teacher_macs"] == macs
    assert rows["teacher"]["mmacs"] == rows["teacher (onnx)"]["mmacs"] == macs / 1e6


def test_feature_distillation_needs_a_torch_teacher(onnx_model, tmp_path):
    _, path = onnx_model
    with pytest.raises(UserInputError, match="feature distillation needs a torch teacher"):
        run_stages(_config(path, feature_weight=1.0), plan_stage("distill"), tmp_path, PlainReporter())


def test_weight_averaging_works_with_an_onnx_teacher(onnx_model, tmp_path):
    """Lightning's averaging copies the training module; the onnxruntime session inside the
    teacher cannot be copied, so the copy shares it."""
    config = _config(onnx_model[1])
    config.student.trainer.ema_decay = 0.9
    outcomes = run_stages(config, plan_stage("distill"), tmp_path, PlainReporter())
    assert outcomes[-1].artifact.metrics["psnr_vs_teacher"] > 0
