"""int8 post-training quantization with PyTorch's PT2E flow (torchao), saved without pickles.

A converted PT2E graph can only be saved with `torch.export.save`, whose loader falls back
to unpickling; instead the artifact keeps the fp32 model (safetensors + spec) and the
calibrated observer state (safetensors). `load_quantized` re-traces the model, re-inserts
the same observers and loads their state, which reproduces the converted graph exactly.
"""

from __future__ import annotations

from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from stylectl.pipelines.errors import UserInputError

OBSERVER_TAG = "activation_post_process"


def _quantizer():
    """Static int8: per-channel symmetric weights, per-tensor affine activations (histogram calibration)."""
    from torchao.quantization.pt2e.quantizer.x86_inductor_quantizer import (
        X86InductorQuantizer,
        get_default_x86_inductor_quantization_config,
    )

    return X86InductorQuantizer().set_global(get_default_x86_inductor_quantization_config())


def prepare(model: nn.Module, image_size: int) -> torch.fx.GraphModule:
    """Trace the model at a fixed input size and insert observers."""
    from torchao.quantization.pt2e.quantize_pt2e import prepare_pt2e

    example = torch.rand(1, 3, image_size, image_size)
    graph = torch.export.export(model.eval(), (example,)).module()
    return prepare_pt2e(graph, _quantizer())


def convert(prepared: torch.fx.GraphModule) -> torch.fx.GraphModule:
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e

    return convert_pt2e(prepared)


def save_observers(prepared: torch.fx.GraphModule, path: Path) -> int:
    """Write the calibrated observer buffers; returns how many tensors were saved."""
    state = {name: tensor.detach().clone().contiguous() for name, tensor in prepared.state_dict().items()
             if OBSERVER_TAG in name}
    save_file(state, str(path))
    return len(state)


def load_quantized(model: nn.Module, observers: Path, image_size: int) -> torch.fx.GraphModule:
    """Rebuild the converted int8 graph from the fp32 model and saved observer state."""
    prepared = prepare(model, image_size)
    try:
        state = load_file(str(observers))
    except Exception as error:  # safetensors raises several types for a bad file
        raise UserInputError(f"{observers}: not a readable observer file ({error})") from None
    expected = {name for name in prepared.state_dict() if OBSERVER_TAG in name}
    if set(state) != expected:
        raise UserInputError(f"{observers}: observer state does not match the model it was saved with")
    prepared.load_state_dict(state, strict=False)
    return convert(prepared)
