"""16-bit activations and 4-bit weights in ONNX: the exported file loads in onnxruntime, carries the
narrow types (uint16 activations, INT4 weights, opset 21) and computes what its PT2E simulation does."""

from __future__ import annotations

import onnx
import pytest
import torch

from stylectl.pipelines.config import SchemeConfig
from stylectl.pipelines.measure.latency import run_onnx
from stylectl.pipelines.measure.metrics import predict, psnr
from stylectl.pipelines.models.qdq_types import NARROW_OPSET, has_16bit_activations, opset_for
from stylectl.pipelines.models.student import StudentNet, student_params
from stylectl.pipelines.models.to_onnx import export_onnx
from stylectl.pipelines.quant import pt2e
from stylectl.pipelines.quant.build import calibrate

SIZE = 32


@pytest.fixture(scope="module")
def student() -> torch.nn.Module:
    torch.manual_seed(0)
    model = StudentNet(**student_params(0.5, 1, 1.5, context=True)).eval()
    with torch.no_grad():  # a fresh student's context convs are zero: give every conv weights to round
        for module in model.modules():
            if isinstance(module, torch.nn.Conv2d):
                module.weight.normal_(0, 0.2)
    return model


def _simulation(model, scheme: SchemeConfig):
    torch.manual_seed(1)
    prepared = pt2e.prepare(model, SIZE, scheme)
    calibrate(prepared, [torch.rand(3, SIZE, SIZE) for _ in range(4)])
    return pt2e.convert(prepared, scheme)


def _zero_point_types(path) -> set[str]:
    graph = onnx.load(str(path)).graph
    initializers = {tensor.name: tensor for tensor in graph.initializer}
    return {onnx.TensorProto.DataType.Name(initializers[node.input[2]].data_type) for node in graph.node
            if node.op_type in ("QuantizeLinear", "DequantizeLinear") and len(node.input) > 2
            and node.input[2] in initializers}


@pytest.mark.parametrize("fields, types", [
    ({"activation_bits": 16}, {"INT8", "UINT16"}),
    ({"weight_bits": 4}, {"INT4", "UINT8"}),
    ({"weight_bits": 4, "activation_bits": 16}, {"INT4", "UINT16"}),
    ({"activations_16bit": ["head", "blocks"]}, {"INT8", "UINT8", "UINT16"}),
])
def test_narrow_schemes_export_load_and_match_their_simulation(student, tmp_path, fields, types):
    scheme = SchemeConfig(name="narrow", **fields)
    simulation = _simulation(student, scheme)
    path = tmp_path / "narrow.onnx"
    export_onnx(simulation, SIZE, 18, path, int4_weights=scheme.weight_bits == 4)
    model = onnx.load(str(path))
    assert model.opset_import[0].version == NARROW_OPSET
    assert _zero_point_types(path) == types
    images = torch.rand(2, 3, SIZE, SIZE)
    with torch.no_grad():
        expected = predict(simulation, images)
    assert psnr(run_onnx(path, images), expected) >= 35


def test_an_8bit_scheme_keeps_the_configured_opset(student):
    simulation = _simulation(student, SchemeConfig(name="int8"))
    assert not has_16bit_activations(simulation)
    assert opset_for(simulation, 18, int4_weights=False) == 18
    assert opset_for(simulation, 18, int4_weights=True) == NARROW_OPSET
