"""Schemes in PyTorch's PT2E flow (torchao): prepare, calibrate or train, convert; saved without pickles.

A converted PT2E graph can only be saved with `torch.export.save`, whose loader falls back
to unpickling; instead the artifact keeps the fp32 model (safetensors + spec) and the
prepared graph's whole state (weights, observers, fake-quant scales) as safetensors.
`load_quantized` re-traces the model the same way, loads that state and converts, which
reproduces the converted graph exactly.
"""

from __future__ import annotations

from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from stylectl.pipelines.config import SchemeConfig
from stylectl.pipelines.errors import UserInputError
from stylectl.pipelines.models.fold import fold_batchnorm
from stylectl.pipelines.quant.bias_correction import correct_biases, ensure_biases
from stylectl.pipelines.quant.equalize import equalize
from stylectl.pipelines.quant.schemes import check_layers, quantizer_for


def float_source(model: nn.Module, scheme: SchemeConfig, calibration: list[torch.Tensor] | None) -> nn.Module:
    """The float model the scheme quantizes.

    BatchNorm is folded first for CLE and bias correction (which edit conv weights and
    biases) and for QAT (so small training batches cannot disturb running statistics); PTQ
    otherwise lets prepare_pt2e fold it. Bias correction needs the calibration crops; when
    a saved state is reloaded they are not needed (the corrected biases are in the state).
    """
    if not (scheme.equalize or scheme.bias_correction or scheme.method == "qat"):
        return model.eval()
    source = fold_batchnorm(model)
    if scheme.equalize:
        equalize(source)
    if scheme.bias_correction:
        ensure_biases(source)
        if calibration is not None:
            correct_biases(source, scheme, calibration)
    return source


def prepare(model: nn.Module, image_size: int, scheme: SchemeConfig, only: str | None = None,
            calibration: list[torch.Tensor] | None = None) -> torch.fx.GraphModule:
    """Trace at a fixed image size and insert observers (PTQ) or fake-quantizers (QAT, any batch size)."""
    from torchao.quantization.pt2e.quantize_pt2e import prepare_pt2e, prepare_qat_pt2e

    check_layers(model, scheme.keep_float, f"quantize scheme '{scheme.name}' keep_float")
    check_layers(model, scheme.activations_16bit, f"quantize scheme '{scheme.name}' activations_16bit")
    source = float_source(model, scheme, calibration)
    example = torch.rand(2, 3, image_size, image_size)
    quantizer = quantizer_for(source, scheme, only)
    if scheme.method == "qat":
        batch = torch.export.Dim("batch", min=1, max=1024)
        graph = torch.export.export(source, (example,), dynamic_shapes=({0: batch},)).module()
        return prepare_qat_pt2e(graph, quantizer)
    graph = torch.export.export(source, (example[:1],)).module()
    return prepare_pt2e(graph, quantizer)


def convert(prepared: torch.fx.GraphModule, scheme: SchemeConfig) -> torch.fx.GraphModule:
    """Swap observers for quantize/dequantize pairs (the int simulation every exporter lowers)."""
    from torchao.quantization.pt2e import move_exported_model_to_eval
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e

    if scheme.method == "qat":
        move_exported_model_to_eval(prepared)
    return convert_pt2e(prepared)


def save_state(prepared: torch.fx.GraphModule, path: Path) -> int:
    """Write the prepared graph's state (weights and calibration); returns how many tensors."""
    state = {name: tensor.detach().clone().contiguous() for name, tensor in prepared.state_dict().items()}
    save_file(state, str(path))
    return len(state)


def load_quantized(model: nn.Module, state_path: Path, image_size: int, scheme: SchemeConfig) -> torch.fx.GraphModule:
    """Rebuild a scheme's converted graph from the fp32 model and its saved state."""
    prepared = prepare(model, image_size, scheme)
    try:
        state = load_file(str(state_path))
    except Exception as error:  # safetensors raises several types for a bad file
        raise UserInputError(f"{state_path}: not a readable quantization state file ({error})") from None
    if set(state) != set(prepared.state_dict()):
        raise UserInputError(f"{state_path}: quantization state does not match the model it was saved with")
    prepared.load_state_dict(state)
    return convert(prepared, scheme)
