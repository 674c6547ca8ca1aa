"""Model cost: parameters and multiply-accumulates, the numbers the report sets beside latency."""

from __future__ import annotations

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


def count_params(model: nn.Module) -> int:
    """Trainable and frozen parameters (buffers such as BatchNorm statistics excluded)."""
    return sum(p.numel() for p in model.parameters())
