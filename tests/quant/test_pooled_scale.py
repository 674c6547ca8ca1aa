"""Pooled means get their own quantization scale in every quantizer that makes an int8 file."""

from __future__ import annotations

import pytest
import torch

from stylectl.pipelines.config import SchemeConfig
from stylectl.pipelines.models.student import StudentNet, student_params
from stylectl.pipelines.quant.schemes import quantizer_for

POOL = torch.ops.aten.adaptive_avg_pool2d.default


def _quantizers(student):
    from litert_torch.quantize import pt2e_quantizer

    from stylectl.pipelines.export.executorch_quantizer import xnnpack_quantizer
    from stylectl.pipelines.export.tflite_quantizer import ResidualAddQuantizer

    scheme = SchemeConfig(name="int8")
    return {"quantize stage (onnx)": quantizer_for(student, scheme),
            "xnnpack (pte)": xnnpack_quantizer(scheme),
            "litert (tflite)": ResidualAddQuantizer().set_global(
                pt2e_quantizer.get_symmetric_quantization_config(is_per_channel=True))}


@pytest.mark.parametrize("which", ["quantize stage (onnx)", "xnnpack (pte)", "litert (tflite)"])
def test_each_pool_observes_its_output_apart_from_its_input(which):
    from torchao.quantization.pt2e.quantize_pt2e import prepare_pt2e

    torch.manual_seed(0)
    student = StudentNet(**student_params(0.25, 1, 1.5, context=True)).eval()
    graph = torch.export.export(student, (torch.rand(1, 3, 32, 32),)).module()
    prepared = prepare_pt2e(graph, _quantizers(student)[which])
    pools = [node for node in prepared.graph.nodes if node.target == POOL]
    assert len(pools) == 2  # the context's mean and mean square
    for pool in pools:
        before, after = pool.args[0], next(iter(pool.users))
        assert before.op == after.op == "call_module"  # both edges observed
        # by two observers (a shared scale is one observer inserted on both edges)
        assert prepared.get_submodule(before.target) is not prepared.get_submodule(after.target)
