"""litert-torch's PT2E quantizer, plus the residual adds it misses on current torch, and pooled
means on their own scale (quant/pooled_scale.py), as in the quantize stage's simulation.

Its add annotator finds adds by `source_fn_stack` metadata, which `torch.export` in torch
2.13 no longer records, so every `x + block(x)` stayed float: the int8 file dequantized
both operands, added in float and quantized again (a CPU fallback on NNAPI, and slower on
XNNPACK). This quantizer annotates those adds the way litert's own annotator would (both
inputs and the output with the activation spec) before the rest of its patterns run.
"""

from __future__ import annotations

import torch
from litert_torch.quantize.pt2e_quantizer import PT2EQuantizer
from litert_torch.quantize.pt2e_quantizer_utils import get_input_act_qspec, get_output_act_qspec
from torchao.quantization.pt2e.quantizer import QuantizationAnnotation
from torchao.quantization.pt2e.quantizer.quantizer import Q_ANNOTATION_KEY

from stylectl.pipelines.quant.pooled_scale import give_pools_own_scale

ADD_TARGETS = (torch.ops.aten.add.Tensor, torch.ops.aten.add_.Tensor)


class ResidualAddQuantizer(PT2EQuantizer):
    """PT2EQuantizer whose global config also covers tensor-plus-tensor adds."""

    def annotate(self, model: torch.fx.GraphModule) -> torch.fx.GraphModule:
        if self.global_config is not None and self.global_config.input_activation is not None:
            annotate_tensor_adds(model, self.global_config)
        super().annotate(model)
        if self.global_config is not None and self.global_config.output_activation is not None:
            give_pools_own_scale(model, self.global_config.output_activation)
        return model


def annotate_tensor_adds(model: torch.fx.GraphModule, config) -> None:
    """Annotate every not-yet-annotated add of two tensors with the config's activation spec."""
    for node in model.graph.nodes:
        if node.target not in ADD_TARGETS or Q_ANNOTATION_KEY in node.meta:
            continue
        operands = node.args[:2]
        if not all(isinstance(operand, torch.fx.Node) for operand in operands):
            continue  # a tensor plus a Python scalar: nothing to observe on the scalar side
        node.meta[Q_ANNOTATION_KEY] = QuantizationAnnotation(
            input_qspec_map={operand: get_input_act_qspec(config) for operand in operands},
            output_qspec=get_output_act_qspec(config),
            _annotated=True,
        )
