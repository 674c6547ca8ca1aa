"""fp16 as a scheme: what a float16 NPU or GPU delegate computes, simulated in float32.

Weights are rounded to float16 once; every layer's output is rounded to float16 as it
is produced, which is where a half-precision runtime loses its bits.
"""

from __future__ import annotations

import copy

import torch
from torch import nn


def _round_output(module: nn.Module, inputs, output: torch.Tensor) -> torch.Tensor:
    return output.half().float()


def float16_simulation(model: nn.Module) -> nn.Module:
    """An eval-mode copy of `model` that computes as float16 would."""
    simulated = copy.deepcopy(model).eval()
    with torch.no_grad():
        for parameter in simulated.parameters():
            parameter.copy_(parameter.half().float())
    for module in simulated.modules():
        if not list(module.children()):  # leaf layers: conv, norm, activation, resize
            module.register_forward_hook(_round_output)
    return simulated
