"""Core ML int4 weights, written straight from a tiny student (no build): what the package stores,
the deployment target it needs, and the weights it computes with read back for scoring in torch
(the export stage's packages: test_export_formats.py)."""

from __future__ import annotations

import copy
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from torch import nn

from stylectl.pipelines.errors import UserInputError
from stylectl.pipelines.export import coreml
from stylectl.pipelines.export.formats import FORMATS, resolve_formats
from stylectl.pipelines.models.fold import fold_batchnorm
from stylectl.pipelines.models.student import StudentNet, student_params

BLOCK = 8  # divides 8 of the tiny student's 15 convs: not its depthwise convs, 3-channel stem or 36-channel convs
SIZE = 32


def _student() -> nn.Module:
    """The tiny student, BatchNorm folded as every exporter gets it; its conv weights drawn at random
    (a fresh student starts its context convs at zero, and zero weights are all the same)."""
    torch.manual_seed(0)
    model = StudentNet(**student_params(0.5, 1, 1.5, context=True)).eval()
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.Conv2d):
                module.weight.normal_(0, 0.1)
    return fold_batchnorm(model)


def _convs_in_forward_order(model: nn.Module) -> list[nn.Conv2d]:
    order: list[nn.Conv2d] = []
    hooks = [module.register_forward_hook(lambda module, *_: order.append(module))
             for module in model.modules() if isinstance(module, nn.Conv2d)]
    with torch.no_grad():
        model(torch.rand(1, 3, SIZE, SIZE))
    for hook in hooks:
        hook.remove()
    return order


def _compressed(conv: nn.Conv2d) -> bool:
    """Whether int4 per-block quantization applies: the block must divide the input channels per group."""
    return conv.weight.shape[1] % BLOCK == 0


@pytest.fixture(scope="module")
def int4_package(tmp_path_factory):
    model = _student()
    source = SimpleNamespace(fp32=model, image_size=SIZE, example=lambda: torch.rand(1, 3, SIZE, SIZE))
    options = resolve_formats({"coreml": {"variants": ["int4_weights"], "minimum_deployment_target": "iOS18",
                                          "int4_block_size": BLOCK, "min_weight_elements": 0}})["coreml"]
    path = tmp_path_factory.mktemp("coreml") / "student_int4_weights.mlpackage"
    assert coreml.write("int4_weights", source, path, options, 18) is model
    return model, path


def test_int4_weights_package_stores_int4_weights(int4_package):
    model, path = int4_package
    info = coreml.inspect(path)
    compressed = sum(_compressed(conv) for conv in _convs_in_forward_order(model))
    assert compressed == 8
    assert info["quantized_weights"] == {"int4": compressed}
    assert info["ops"]["constexpr_blockwise_shift_scale"] == compressed and info["ops"]["conv"] == 15
    assert info["opset"] == "CoreML8"  # iOS18
    assert coreml.structure_problems("int4_weights", info) == []
    assert coreml.runnable_here("int4_weights") == coreml.NOT_RUNNABLE


def test_int4_weights_is_written_only_when_listed():
    assert "int4_weights" not in FORMATS["coreml"].resolve({})["variants"]
    assert FORMATS["coreml"].resolve({"variants": ["int4_weights"]})["variants"] == ["int4_weights"]


def test_a_block_size_no_conv_takes_is_a_structure_problem():
    problems = coreml.structure_problems("int4_weights", {"ops": {"conv": 15}, "quantized_weights": {}})
    assert problems == ["weights are not compressed (no int4 weights in constexpr_affine_dequantize or "
                        "constexpr_blockwise_shift_scale ops); a positive int4_block_size must divide a conv's input "
                        "channels (per group)"]
    int4 = {"ops": {"conv": 15, "constexpr_blockwise_shift_scale": 10}, "quantized_weights": {"int4": 10}}
    assert coreml.structure_problems("int8_weights", int4) == [
        "weights are not compressed (no int8 weights in constexpr_affine_dequantize or "
        "constexpr_blockwise_shift_scale ops)"]


def test_decompressed_int4_weights_are_16_values_per_block_close_to_fp32(int4_package):
    """Read back from the package: at most 16 values per output channel and block of input channels
    (a 1x1 conv's block has only BLOCK weights; the 3x3 head's has BLOCK * 9), each within half a
    quantization step of the fp32 weight; uncompressed convs hold the fp16 weight."""
    model, path = int4_package
    weights = coreml.decompressed_conv_weights(path)
    convs = _convs_in_forward_order(model)
    assert [weight.shape for weight in weights.values()] == [tuple(conv.weight.shape) for conv in convs]
    kernels = []
    for (name, weight), conv in zip(weights.items(), convs):
        reference = conv.weight.detach().numpy()
        assert weight.dtype == np.float32, name
        if not _compressed(conv):
            np.testing.assert_array_equal(weight, reference.astype(np.float16).astype(np.float32), err_msg=name)
            continue
        out_channels, in_channels = reference.shape[:2]
        blocks = weight.reshape(out_channels, in_channels // BLOCK, -1)  # a block spans the kernel too
        assert max(len(np.unique(block)) for block in blocks.reshape(-1, blocks.shape[-1])) <= 16, name
        kernels.append(conv.kernel_size)
        largest = np.abs(reference.reshape(blocks.shape)).max(axis=-1, keepdims=True)
        step = largest / 7  # symmetric int4: the largest weight of a block is 7 steps
        assert np.all(np.abs(blocks - reference.reshape(blocks.shape)) <= step * 0.51 + 1e-3), name
        assert np.linalg.norm(weight - reference) / np.linalg.norm(reference) < 0.15, name
    assert kernels.count((3, 3)) == 1  # the head: blocks of BLOCK * 9 weights, where 16 values is a real limit


def test_decompressed_weights_load_into_the_torch_model(int4_package):
    """What the function is for: the torch model with the package's weights computes what Core ML
    would (fp16 activations aside), close to the fp32 model."""
    model, path = int4_package
    quantized = copy.deepcopy(model)
    with torch.no_grad():
        for conv, weight in zip(_convs_in_forward_order(quantized), coreml.decompressed_conv_weights(path).values()):
            conv.weight.copy_(torch.from_numpy(weight))
        images = torch.rand(2, 3, SIZE, SIZE)
        expected, output = model(images), quantized(images)
    assert not torch.equal(output, expected)
    assert 10 * torch.log10(1 / torch.mean((output - expected) ** 2)) > 25


@pytest.mark.parametrize("target, needed", [("iOS17", "iOS18"), ("iOS16", "iOS18"), ("macOS14", "macOS15")])
def test_int4_weights_name_the_deployment_target_they_need(tmp_path, target, needed):
    options = resolve_formats({"coreml": {"minimum_deployment_target": target}})["coreml"]
    source = SimpleNamespace(fp32=None)  # refused before anything is traced
    with pytest.raises(UserInputError) as caught:
        coreml.write("int4_weights", source, tmp_path / "student_int4_weights.mlpackage", options, 18)
    assert str(caught.value) == (f"export.formats.coreml int4_weights: needs minimum_deployment_target {needed} "
                                 f"or later (int4 weights are iOS18/macOS15 constexpr_blockwise_shift_scale ops); "
                                 f"it is {target}")
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("value, ok", [(32, True), (1, True), (0, True), (-4, False), (True, False), (8.0, False)])
def test_int4_block_size_is_zero_or_a_positive_integer(value, ok):
    assert FORMATS["coreml"].resolve({})["int4_block_size"] == 0  # one scale per output channel
    if ok:
        assert resolve_formats({"coreml": {"int4_block_size": value}})["coreml"]["int4_block_size"] == value
    else:
        with pytest.raises(ValueError, match=f"coreml.int4_block_size: {value!r} is not valid"):
            resolve_formats({"coreml": {"int4_block_size": value}})


def test_int4_per_output_channel_by_default_compresses_every_conv(tmp_path):
    """The default (int4_block_size 0) keeps one scale per output channel, so no conv is left in fp16
    for its channel count, depthwise convs included; each channel's weights take at most 15 values."""
    model = _student()
    source = SimpleNamespace(fp32=model, image_size=SIZE, example=lambda: torch.rand(1, 3, SIZE, SIZE))
    options = resolve_formats({"coreml": {"variants": ["int4_weights"], "minimum_deployment_target": "iOS18",
                                          "min_weight_elements": 0}})["coreml"]
    path = tmp_path / "student_int4_weights.mlpackage"
    coreml.write("int4_weights", source, path, options, 18)
    convs = _convs_in_forward_order(model)
    assert coreml.inspect(path)["quantized_weights"] == {"int4": len(convs)}
    for stored in coreml.decompressed_conv_weights(path).values():
        assert max(len(np.unique(channel)) for channel in stored.reshape(stored.shape[0], -1)) <= 15
