"""ExecuTorch: which shipped schemes XNNPACK can run as defined, how affine activations map,
and what makes a .pte's structure wrong (the files themselves: test_export_formats.py)."""

from __future__ import annotations

import sys

import pytest
import torch

from stylectl.pipelines.config import SchemeConfig
from stylectl.pipelines.errors import UserInputError
from stylectl.pipelines.export import executorch
from stylectl.pipelines.export.executorch_quantizer import _signed, unsupported, xnnpack_quantizer
from stylectl.pipelines.quant.schemes import quantization_config


@pytest.mark.parametrize("fields, reason", [
    ({"weight_bits": 4}, "weight_bits: 4"),
    ({"weight_symmetric": False}, "weight_symmetric: false"),
    ({"activation_bits": 16}, "activation_bits: 16"),
    ({"activation_bits": None}, "activation_bits: null"),
    ({"method": "qat"}, "method: qat"),
    ({"kind": "fp16"}, "kind: fp16"),
])
def test_what_xnnpack_cannot_express_is_refused_by_name(fields, reason):
    scheme = SchemeConfig(name="s", **fields)
    assert any(reason in problem for problem in unsupported(scheme))
    with pytest.raises(UserInputError, match=f"quantize.ship scheme 's'.*{reason}"):
        xnnpack_quantizer(scheme)


@pytest.mark.parametrize("fields", [{}, {"weight_granularity": "per_tensor", "calibration": "minmax"},
                                    {"activation_symmetric": True}, {"equalize": True, "bias_correction": True},
                                    {"keep_float": ["head"], "calibration": "percentile"}])
def test_int8_ptq_schemes_map_as_defined(fields):
    assert unsupported(SchemeConfig(name="s", **fields)) == []


def test_uint8_activations_become_int8_on_the_same_grid():
    """Calibrated on the same data, the int8 observer picks the scheme's scale, zero point - 128."""
    config = quantization_config(SchemeConfig(name="s", calibration="minmax"), qat=False)
    signed = _signed(config)
    assert config.input_activation.dtype == torch.uint8 and signed.input_activation.dtype == torch.int8
    assert signed.weight == config.weight and signed.output_activation == signed.input_activation
    data = torch.randn(1000) * 3 + 1
    observers = [spec.observer_or_fake_quant_ctr(dtype=spec.dtype, quant_min=spec.quant_min,
                                                 quant_max=spec.quant_max, qscheme=spec.qscheme)
                 for spec in (config.input_activation, signed.input_activation)]
    for observer in observers:
        observer(data)
    (scale, zero), (signed_scale, signed_zero) = [observer.calculate_qparams() for observer in observers]
    assert torch.equal(scale, signed_scale) and int(zero) - 128 == int(signed_zero)


def _prepared_head(scheme: SchemeConfig):
    """The head conv of a tiny student after prepare_pt2e with the scheme's XNNPACK quantizer."""
    from torchao.quantization.pt2e.quantize_pt2e import prepare_pt2e

    from stylectl.pipelines.models.student import StudentNet, student_params

    model = StudentNet(**student_params(0.25, 1, 1.5, context=True)).eval()
    prepared = prepare_pt2e(torch.export.export(model, (torch.rand(1, 3, 32, 32),)).module(),
                            xnnpack_quantizer(scheme))
    [head] = [node for node in prepared.graph.nodes if node.op == "call_function" and "conv" in str(node.target)
              and "head" in [name for name, _ in node.meta["nn_module_stack"].values()]]
    return prepared, head


def test_protect_output_quantizes_the_head_with_min_max_and_keep_float_leaves_it_float():
    """XNNPACKQuantizer's set_module_name never reached a conv (its weight has no module name):
    the head stayed float while the scheme says int8 calibrated with min-max."""
    from torchao.quantization.pt2e import HistogramObserver, MinMaxObserver, PerChannelMinMaxObserver

    prepared, head = _prepared_head(SchemeConfig(name="s"))  # mse calibration, protect_output on
    weight, [output] = head.args[1], list(head.users)
    assert isinstance(prepared.get_submodule(weight.target), PerChannelMinMaxObserver)
    assert type(prepared.get_submodule(output.target)) is MinMaxObserver
    observers = [prepared.get_submodule(node.target) for node in prepared.graph.nodes if node.op == "call_module"]
    assert any(type(observer) is HistogramObserver for observer in observers)  # the other layers: mse
    _, head = _prepared_head(SchemeConfig(name="s", keep_float=["head"]))
    assert head.args[1].op == "get_attr"  # the float weight itself, no observer


def _info(**fields) -> dict:
    return {"delegates": ["XnnpackBackend"], "portable_ops": [], "coreml_ops": {"conv": 3}, **fields}


def test_a_program_without_its_variants_backend_is_wrong():
    assert executorch.structure_problems("fp32", _info()) == []
    assert executorch.structure_problems("int8", _info(delegates=[])) == ["no XnnpackBackend delegate in the program"]
    assert executorch.structure_problems("coreml", _info()) == ["no CoreMLBackend delegate in the program"]


def test_a_core_ml_program_must_hold_the_whole_graph():
    whole = _info(delegates=["CoreMLBackend"])
    assert executorch.structure_problems("coreml", whole) == []
    split = _info(delegates=["CoreMLBackend"], portable_ops=["aten::upsample_nearest2d"], coreml_ops={"add": 1})
    assert executorch.structure_problems("coreml", split) == ["ops outside the Core ML delegate: "
                                                              "['aten::upsample_nearest2d']",
                                                              "no conv ops in the delegated Core ML program"]


@pytest.mark.skipif(sys.platform == "darwin", reason="Core ML runs on macOS")
def test_xnnpack_programs_run_here_and_core_ml_ones_say_why_not():
    assert executorch.runnable_here("fp32") is None and executorch.runnable_here("int8") is None
    assert executorch.runnable_here("coreml") == "not run (needs macOS)"
