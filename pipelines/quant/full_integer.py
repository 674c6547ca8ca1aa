"""Every op of the student in int8: what NPUs need, on top of torchao's x86 annotations.

torchao's X86InductorQuantizer quantizes the *inputs* of the ops x86 CPUs run in int8 (convs,
the adds and multiplies it knows, pooling) and leaves the rest to Inductor's fusions. Lowered
to ONNX, what it leaves stays float between Q/DQ pairs: the conv output that feeds a residual
add, the global context's multiply by its gain and add of its shift, the nearest upsample, the
output sigmoid and depth-to-space. Those float islands split the graph. Qualcomm's QNN HTP
backend refused to finalize it (QNN_COMMON_ERROR_MEM_ALLOC), and onnxruntime's CPU provider ran
it slower than its own `quantize_static` file.

`complete` runs after the x86 annotations and quantizes every float activation that still
enters an op, with the scheme's activation spec (a layer's own config where the scheme sets
one; nothing inside `keep_float` layers). Two exceptions follow what every int8 runtime does:
a ReLU right after the conv or add it belongs to is fused into it (DQ -> Conv -> Relu -> Q is one
int8 op in onnxruntime, QNN and TFLite), and the ops that only move values (nearest upsample,
depth-to-space) keep their input's scale. The image the graph returns is quantized too, with the
output spec (min-max under `protect_output`, so highlights are never clipped; the logits before
the sigmoid keep the scheme's calibration, since clipping them only touches saturated pixels).
The lowered QDQ graph then has no float op between its input and output. Written here because no quantizer in
the installed libraries does this for the x86 annotations the scheme is defined with.
"""

from __future__ import annotations

import torch
from torchao.quantization.pt2e.quantizer import QuantizationAnnotation, SharedQuantizationSpec, get_module_name_filter
from torchao.quantization.pt2e.quantizer.quantizer import Q_ANNOTATION_KEY
from torchao.quantization.pt2e.quantizer.x86_inductor_quantizer import X86InductorQuantizer

from stylectl.pipelines.quant.pooled_scale import give_pools_own_scale

ACTIVATIONS = {torch.ops.aten.relu.default, torch.ops.aten.relu_.default, torch.ops.aten.hardtanh.default}
BATCH_NORMS = {torch.ops.aten.batch_norm.default, torch.ops.aten._native_batch_norm_legit_no_training.default}
FUSES_ACTIVATION = {torch.ops.aten.conv2d.default, torch.ops.aten.add.Tensor, *BATCH_NORMS}
LAYOUT_OPS = {torch.ops.aten.upsample_nearest2d.vec, torch.ops.aten.upsample_nearest2d.default,
              torch.ops.aten.pixel_shuffle.default}


class FullIntegerQuantizer(X86InductorQuantizer):
    """The x86 annotations, then every op they leave float (`complete`), with pooled means on their own
    scale (pooled_scale.py)."""

    def __init__(self, activation_spec, layer_specs: dict[str, object], output_spec) -> None:
        super().__init__()
        self.activation_spec = activation_spec
        self.layer_specs = layer_specs
        self.output_spec = output_spec

    def annotate(self, model: torch.fx.GraphModule) -> torch.fx.GraphModule:
        super().annotate(model)
        complete(model, self.activation_spec, self.layer_specs, self.output_spec)
        give_pools_own_scale(model, self.activation_spec)
        return model


def complete(model: torch.fx.GraphModule, spec, layer_specs: dict[str, object], output_spec) -> None:
    """Annotate every float activation edge the earlier annotations left float (see the module doc).

    `spec` is the scheme's activation QuantizationSpec; `layer_specs` maps layer names to their own
    spec, or to None for layers kept in float; `output_spec` quantizes the image the graph returns
    (carried back through the layout ops that end the graph, such as depth-to-space).
    """
    layers = [(get_module_name_filter(name), layer_spec) for name, layer_spec in layer_specs.items()]
    image_edges = _image_edges(model)
    for node in model.graph.nodes:
        node_spec = next((layer_spec for in_layer, layer_spec in layers if in_layer(node)), spec)
        if node.op != "call_function" or not _is_activation(node) or node.target in BATCH_NORMS or node_spec is None:
            continue
        annotation = node.meta.setdefault(Q_ANNOTATION_KEY, QuantizationAnnotation(_annotated=True))
        for source in node.all_input_nodes:
            if _is_activation(source) and source not in annotation.input_qspec_map and not _fused(source, node):
                annotation.input_qspec_map[source] = output_spec if (source, node) in image_edges else node_spec
        if node.target in LAYOUT_OPS and annotation.output_qspec is None:
            annotation.output_qspec = SharedQuantizationSpec((node.args[0], node))
    for result in _outputs(model):
        annotation = result.meta.get(Q_ANNOTATION_KEY)
        if annotation is not None and annotation.output_qspec is None:
            annotation.output_qspec = output_spec


def _image_edges(model: torch.fx.GraphModule) -> set[tuple[torch.fx.Node, torch.fx.Node]]:
    """The edges that carry the finished image: into each layout op that ends the graph."""
    edges = set()
    for node in _outputs(model):
        while node.target in LAYOUT_OPS and isinstance(node.args[0], torch.fx.Node):
            edges.add((node.args[0], node))
            node = node.args[0]
    return edges


def _is_activation(node: torch.fx.Node) -> bool:
    """A float tensor computed in the graph or fed to it (not a weight, bias or size)."""
    value = node.meta.get("val")
    return node.op in ("call_function", "placeholder") and isinstance(value, torch.Tensor) and value.is_floating_point()


def _fused(source: torch.fx.Node, node: torch.fx.Node) -> bool:
    """A ReLU that runtimes fuse into the op before it (its only consumer): no quantize between."""
    return node.target in ACTIVATIONS and source.target in FUSES_ACTIVATION and len(source.users) == 1


def _outputs(model: torch.fx.GraphModule) -> list[torch.fx.Node]:
    output = next(node for node in model.graph.nodes if node.op == "output")
    results = output.args[0] if isinstance(output.args[0], (tuple, list)) else [output.args[0]]
    return [result for result in results if isinstance(result, torch.fx.Node)]
