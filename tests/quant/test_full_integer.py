"""Every op int8 in a scheme's simulation, except what the scheme keeps float."""

from __future__ import annotations

import torch

from stylectl.pipelines.config import SchemeConfig
from stylectl.pipelines.models.student import StudentNet, student_params
from stylectl.pipelines.quant import pt2e
from stylectl.pipelines.quant.build import calibrate

DEQUANTIZE = ("dequantize_per_tensor", "dequantize_per_channel")
QUANTIZE = ("quantize_per_tensor", "quantize_per_channel")


def _converted(scheme: SchemeConfig) -> torch.fx.GraphModule:
    torch.manual_seed(0)
    student = StudentNet(**student_params(0.25, 1, 1.5, context=True)).eval()
    prepared = pt2e.prepare(student, 32, scheme)
    calibrate(prepared, [torch.rand(3, 32, 32) for _ in range(2)])
    return pt2e.convert(prepared, scheme)


def _float_inputs(graph: torch.fx.GraphModule) -> dict[str, str]:
    """Compute ops with an activation input that is not dequantized int8, by name -> layer (a ReLU
    fed directly by its conv or add is fused by every runtime, so it does not count)."""
    floating = {}
    for node in graph.graph.nodes:
        if node.op != "call_function" or any(key in str(node.target) for key in DEQUANTIZE + QUANTIZE):
            continue
        sources = [source for source in node.all_input_nodes if source.op != "get_attr"]
        fused_relu = "relu" in str(node.target) and all("conv" in s.name or "add" in s.name for s in sources)
        if not fused_relu and any(not any(key in str(source.target) for key in DEQUANTIZE) for source in sources):
            floating[node.name] = list(node.meta.get("nn_module_stack", {"": ("", "")}).values())[-1][0]
    return floating


def test_every_op_reads_int8_and_the_image_is_quantized():
    graph = _converted(SchemeConfig(name="int8"))
    assert _float_inputs(graph) == {}
    output = next(node for node in graph.graph.nodes if node.op == "output").args[0]
    result = output[0] if isinstance(output, (tuple, list)) else output
    assert any(key in str(result.target) for key in DEQUANTIZE)  # the returned image went through int8


def test_a_layer_kept_float_is_the_only_float_island():
    graph = _converted(SchemeConfig(name="mixed", keep_float=["blocks.0.context"]))
    layers = set(_float_inputs(graph).values())
    assert layers and all(layer.startswith("blocks.0.context") for layer in layers)
