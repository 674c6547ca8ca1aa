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
  in XNNPACK's fp32 kernels).
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

from stylectl.pipelines.config import SchemeConfig
from stylectl.pipelines.errors import UserInputError
from stylectl.pipelines.quant.schemes import layer_overrides, quantization_config


def unsupported(scheme: SchemeConfig) -> list[str]:
    """The scheme's fields XNNPACK cannot express (empty when it can run the scheme as defined)."""
    if scheme.kind != "int":
        return [f"kind: {scheme.kind} (not an integer scheme)"]
    checks = [(scheme.weight_bits != 8, f"weight_bits: {scheme.weight_bits} (int8 conv kernels only)"),
              (not scheme.weight_symmetric, "weight_symmetric: false (conv weights need zero point 0)"),
              (scheme.activation_bits is None, "activation_bits: null (weight-only covers linear layers only)"),
              (scheme.activation_bits == 16, "activation_bits: 16 (no int16 kernels)"),
              (scheme.method == "qat", "method: qat (its fine-tuned weights exist only in the PT2E state)")]
    return [reason for failed, reason in checks if failed]


def xnnpack_quantizer(scheme: SchemeConfig):
    """An XNNPACKQuantizer applying the scheme; raises UserInputError naming what XNNPACK cannot express."""
    from executorch.backends.xnnpack.quantizer.xnnpack_quantizer import XNNPACKQuantizer

    problems = unsupported(scheme)
    if problems:
        raise UserInputError(f"export.formats.pte int8: XNNPACK cannot run quantize.ship scheme '{scheme.name}': "
                             f"{'; '.join(problems)}")
    quantizer = XNNPACKQuantizer().set_global(_signed(quantization_config(scheme, qat=False)))
    for name, config in layer_overrides(scheme).items():
        quantizer.set_module_name(name, _signed(config) if config else None)
    return quantizer


def _signed(config):
    """The config with uint8 activations moved to int8 (zero point - 128): the same grid, the dtype XNNPACK takes."""
    spec = config.input_activation
    if spec.dtype != torch.uint8:
        return config
    spec = dataclasses.replace(spec, dtype=torch.int8, quant_min=-128, quant_max=127)
    return dataclasses.replace(config, input_activation=spec, output_activation=spec)
