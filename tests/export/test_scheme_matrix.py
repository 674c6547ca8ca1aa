"""The scheme matrix's own logic: which runtimes carry a scheme, and loading Core ML's stored weights
into the torch student by value rather than by name."""

from __future__ import annotations

import torch
from torch import nn

from stylectl.pipelines.config import SchemeConfig
from stylectl.pipelines.export.scheme_matrix import coreml_route, tflite_route, with_weights


def test_each_scheme_goes_to_the_runtimes_that_carry_it_as_defined():
    assert tflite_route(SchemeConfig(name="a")) == "int8"
    assert tflite_route(SchemeConfig(name="a", activation_bits=16)) == "w8a16"
    assert tflite_route(SchemeConfig(name="a", weight_bits=4)) is None
    assert tflite_route(SchemeConfig(name="a", activations_16bit=["head"])) is None
    assert tflite_route(SchemeConfig(name="a", method="qat")) is None
    assert coreml_route(SchemeConfig(name="a", activation_bits=16)) == "int8_weights"
    assert coreml_route(SchemeConfig(name="a", weight_bits=4, activation_bits=16)) == "int4_weights"
    assert coreml_route(SchemeConfig(name="a")) is None  # 8-bit activations: Core ML computes in fp16
    assert coreml_route(SchemeConfig(name="a", activation_bits=16, weight_granularity="per_tensor")) is None


def test_stored_weights_load_into_the_conv_they_belong_to_even_in_another_order():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(4, 4, 1), nn.Conv2d(4, 4, 1), nn.Conv2d(4, 8, 3))
    rounded = {f"op{index}": (conv.weight.detach() + 1e-3 * torch.randn_like(conv.weight)).numpy()
               for index, conv in enumerate(model)}
    swapped = {"op1": rounded["op1"], "op0": rounded["op0"], "op2": rounded["op2"]}
    original = [conv.weight.detach().clone() for conv in model]
    loaded = with_weights(model, swapped)
    for index, conv in enumerate(loaded):
        assert torch.equal(conv.weight.detach(), torch.from_numpy(rounded[f"op{index}"]))
    assert all(torch.equal(conv.weight, weight) for conv, weight in zip(model, original))  # the original is untouched
