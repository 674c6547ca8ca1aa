"""Global average pools quantized on their own scale, not their input's.

Every PT2E quantizer installed here (torchao's x86, ExecuTorch's XNNPACK, litert-torch's) annotates
adaptive_avg_pool2d as an op that only moves values: its output shares its input's scale. For the
student's global context that is the wrong grid. The pool turns a feature map into per-channel
means (of x and of x*x); their spread is a small part of the map's range, so on the map's scale a
channel's mean lands on a handful of levels. Each such mean sets a gain applied to the whole
channel, so a one-level step (or a rounding tie that two runtimes break differently) moves every
pixel of that channel. On the quickstart's pruned student, XNNPACK int8:

| pooled means on | int8 simulation vs fp32 | .pte vs its simulation |
|---|---|---|
| the input's scale (the quantizers' default) | 34.7 dB | 39.8 dB |
| their own scale (this module) | 36.7 dB | 40.7 dB |

Latency did not change (8.0 ms both, one measurement each; the runtimes' int8 pooling requantizes to any output scale:
XNNPACK's global average pooling, onnxruntime's QLinearGlobalAveragePool, TFLite's MEAN).
"""

from __future__ import annotations

import torch
from torchao.quantization.pt2e.quantizer import SharedQuantizationSpec
from torchao.quantization.pt2e.quantizer.quantizer import Q_ANNOTATION_KEY

POOLS = {torch.ops.aten.adaptive_avg_pool2d.default, torch.ops.aten.mean.dim}


def give_pools_own_scale(model: torch.fx.GraphModule, spec) -> None:
    """Every annotated pool whose output shares its input's scale gets `spec` (a fresh observer) instead.
    Pools left unannotated (kept float) stay as they are."""
    for node in model.graph.nodes:
        annotation = node.meta.get(Q_ANNOTATION_KEY)
        if node.target in POOLS and annotation is not None and isinstance(annotation.output_qspec,
                                                                          SharedQuantizationSpec):
            annotation.output_qspec = spec
