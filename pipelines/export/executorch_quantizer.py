"""The shipped PT2E scheme as ExecuTorch's XNNPACKQuantizer, for int8 .pte files.

The scheme stays the one definition: the quantizer gets the very QuantizationConfig the
quantize stage builds (quant/schemes.py) and the same per-layer overrides, and is calibrated
on the same crops from the same float source. How each scheme field maps:

- `weight_bits: 8`, `weight_granularity`, `weight_symmetric: true`: as they are (int8
  [-128, 127], per-channel or per-tensor, zero point 0; XNNPACK's qc8w/qs8 conv kernels).
- `activation_bits: 8`, `calibration`, `percentile`: the scheme's own observer and range.
  Affine activations are uint8 in the scheme; XNNPACK's delegate takes only signed int8 (with
  uint8, ExecuTorch leaves quantize/dequantize ops it has no kernels for), so they become int8
  with the zero point moved by 128: the same 256 levels over the same range, not a different grid.
- `activation_symmetric`, `protect_output`, `keep_float`: as they are (layers kept float run
  in XNNPACK's fp32 kernels). XNNPACKQuantizer's own per-layer configs (`set_module_name`) never
  reach a conv: its filter must also accept the conv's weight and bias, which carry no module
  name after `torch.export`, so `head` silently stayed float. `SchemeQuantizer` annotates those
  layers with their own config first, matching the layer's ops and letting parameters through;
  and since its `set_module_name` refuses a None config, `keep_float` layers are kept out by a
  node filter.
- `equalize`, `bias_correction`: applied to the float source as the quantize stage does.

Rejected, with an error naming the field, rather than silently built differently:
4-bit weights (XNNPACK's 4-bit kernels are for linear layers, the student is convs), affine
weights (its int8 conv kernels need zero point 0), 16-bit activations (no int16 kernels),
weight-only schemes (its dynamic quantization covers linear layers only), fp16 schemes
(not integer), and QAT (the fine-tuned weights live only in the scheme's saved PT2E state;
re-calibrating the fp32 student would drop them).
"""

from __future__ import annotations

import dataclasses

import torch
from executorch.backends.xnnpack.quantizer.xnnpack_quantizer import XNNPACKQuantizer
from torchao.quantization.pt2e.quantizer import get_module_name_filter

from stylectl.pipelines.config import SchemeConfig
from stylectl.pipelines.errors import UserInputError
from stylectl.pipelines.quant.pooled_scale import give_pools_own_scale
from stylectl.pipelines.quant.schemes import layer_overrides, quantization_config


def unsupported(scheme: SchemeConfig) -> list[str]:
    """The scheme's fields XNNPACK cannot express (empty when it can run the scheme as defined)."""
    if scheme.kind != "int":
        return [f"kind: {scheme.kind} (not an integer scheme)"]
    checks = [(scheme.weight_bits != 8, f"weight_bits: {scheme.weight_bits} (int8 conv kernels only)"),
              (not scheme.weight_symmetric, "weight_symmetric: false (conv weights need zero point 0)"),
              (scheme.activation_bits is None, "activation_bits: null (weight-only covers linear layers only)"),
              (scheme.activation_bits == 16, "activation_bits: 16 (no int16 kernels)"),
              (bool(scheme.activations_16bit), "activations_16bit (no int16 kernels)"),
              (scheme.method == "qat", "method: qat (its fine-tuned weights exist only in the PT2E state)")]
    return [reason for failed, reason in checks if failed]


def xnnpack_quantizer(scheme: SchemeConfig) -> XNNPACKQuantizer:
    """An XNNPACKQuantizer applying the scheme; raises UserInputError naming what XNNPACK cannot express."""
    problems = unsupported(scheme)
    if problems:
        raise UserInputError(f"export.formats.pte int8: XNNPACK cannot run quantize.ship scheme '{scheme.name}': "
                             f"{'; '.join(problems)}")
    overrides = {name: _signed(config) for name, config in layer_overrides(scheme).items() if config}
    quantizer = SchemeQuantizer(overrides).set_global(_signed(quantization_config(scheme, qat=False)))
    if scheme.keep_float:  # its set_module_name refuses a None config: a filter keeps those layers float
        kept = [get_module_name_filter(name) for name in scheme.keep_float]
        quantizer.set_filter_function(lambda node: not any(in_layer(node) for in_layer in kept))
    return quantizer


class SchemeQuantizer(XNNPACKQuantizer):
    """XNNPACKQuantizer whose per-layer configs reach convs: each layer is annotated with its own
    config before the global one runs (which then skips what is annotated). Pooled means get their
    own scale, as in the quantize stage's simulation (quant/pooled_scale.py)."""

    def __init__(self, overrides: dict) -> None:
        super().__init__()
        self.overrides = overrides

    def annotate(self, model: torch.fx.GraphModule) -> torch.fx.GraphModule:
        for name, config in self.overrides.items():
            self._annotate_all_patterns(model, config, _in_layer(name))
        super().annotate(model)
        give_pools_own_scale(model, self.global_config.output_activation)
        return model


def _in_layer(name: str):
    """A node filter: the layer's ops, and any parameter (get_attr nodes carry no module stack)."""
    in_layer = get_module_name_filter(name)
    return lambda node: node.op != "call_function" or in_layer(node)


def _signed(config):
    """The config with uint8 activations moved to int8 (zero point - 128): the same grid, the dtype XNNPACK takes."""
    spec = config.input_activation
    if spec.dtype != torch.uint8:
        return config
    spec = dataclasses.replace(spec, dtype=torch.int8, quant_min=-128, quant_max=127)
    return dataclasses.replace(config, input_activation=spec, output_activation=spec)
