"""The integer types the ONNX exporter cannot write for a PT2E graph: 16-bit activations and
int4 weights, put in the form onnxruntime and Qualcomm's QNN compiler take.

The dynamo exporter lowers a PT2E graph's int16 quantize ops to QuantizeLinear with int16 zero
points at whatever opset it is asked for; below opset 21 that is an invalid model, and QNN's HTP
backend expects 16-bit activations unsigned (uint16, as onnxruntime's own quantization tools
write them). Int4 weights (weight_bits 4) leave PT2E in int8 containers, which cost a whole
byte per weight. `narrow` rewrites an exported file in place:

- each int16 zero point becomes the uint16 zero point of the same grid (z + 32768: the
  quantized values shift by the same amount, so every dequantized value is unchanged), and the
  tensors it types become uint16;
- with `int4_weights`, every int8 weight initializer read by a DequantizeLinear whose values
  lie in [-8, 7] (all of them, for a 4-bit scheme) is stored as INT4, with its zero point.

Both need opset 21 (16-bit and 4-bit QuantizeLinear/DequantizeLinear), so the file must have
been exported at `NARROW_OPSET` or later: `opset_for` says which opset a model needs.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

NARROW_OPSET = 21
INT16_OFFSET = 32768  # int16 -> uint16 zero point on the same grid
INT4_RANGE = (-8, 7)


def has_16bit_activations(model: torch.nn.Module) -> bool:
    """Whether a converted PT2E graph quantizes some activation to int16."""
    graph = getattr(model, "graph", None)
    return graph is not None and any(torch.int16 in node.args for node in graph.nodes if node.op == "call_function")


def opset_for(model: torch.nn.Module, opset: int, int4_weights: bool) -> int:
    """The opset to export at: the configured one, raised to 21 when the file needs narrow types."""
    return max(opset, NARROW_OPSET) if int4_weights or has_16bit_activations(model) else opset


def narrow(path: Path, int4_weights: bool) -> dict[str, int]:
    """Rewrite the file's int16 activations as uint16 and (with `int4_weights`) its 4-bit weights as
    INT4, in place; returns how many zero points and weight tensors were changed."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    model = onnx.load(str(path))
    initializers = {tensor.name: tensor for tensor in model.graph.initializer}
    sixteen = [tensor for tensor in model.graph.initializer if tensor.data_type == TensorProto.INT16]
    for tensor in sixteen:
        values = numpy_helper.to_array(tensor).astype(np.int32) + INT16_OFFSET
        tensor.CopyFrom(numpy_helper.from_array(values.astype(np.uint16), tensor.name))
    for value in [*model.graph.value_info, *model.graph.output]:
        if value.type.tensor_type.elem_type == TensorProto.INT16:
            value.type.tensor_type.elem_type = TensorProto.UINT16
    packed = set()
    if int4_weights:
        for node in model.graph.node:
            weight = initializers.get(node.input[0]) if node.op_type == "DequantizeLinear" else None
            if weight is None or weight.data_type != TensorProto.INT8 or weight.name in packed:
                continue
            values = numpy_helper.to_array(weight)
            if values.min() < INT4_RANGE[0] or values.max() > INT4_RANGE[1]:
                continue
            names = [weight.name] + ([node.input[2]] if len(node.input) > 2 and node.input[2] else [])
            for name in names:
                array = numpy_helper.to_array(initializers[name])
                initializers[name].CopyFrom(helper.make_tensor(name, TensorProto.INT4, array.shape,
                                                               array.flatten().tolist()))
            packed.add(weight.name)
    if sixteen or packed:
        onnx.save(model, str(path))
    return {"uint16_zero_points": len(sixteen), "int4_weights": len(packed)}
