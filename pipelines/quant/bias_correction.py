"""Empirical bias correction (Nagel et al., 2019, "Data-Free Quantization", section 4.2).

Rounding a conv's weights shifts the mean of each output channel by E[conv(x, W_q - W)],
and the following layers see that shift as a biased image (a colour cast, after the head).
Measured on the calibration crops with the float model's own activations, the shift is
subtracted from the conv's bias before PT2E quantizes, so the quantized layer's mean output
matches the float one. Written by hand: torchao's PT2E flow has no bias correction (AIMET
has one for its own model format).
"""

from __future__ import annotations

import torch
from torch import nn

from stylectl.pipelines.config import SchemeConfig
from stylectl.pipelines.quant.schemes import is_kept_float, weight_observer


def fake_quantized_weight(weight: torch.Tensor, scheme: SchemeConfig) -> torch.Tensor:
    """The weight as the scheme's PT2E weight observer will round it."""
    observer = weight_observer(scheme)
    observer(weight)
    scale, zero_point = observer.calculate_qparams()
    if scheme.weight_granularity == "per_channel":
        return torch.fake_quantize_per_channel_affine(weight, scale, zero_point.int(), 0,
                                                      observer.quant_min, observer.quant_max)
    return torch.fake_quantize_per_tensor_affine(weight, float(scale), int(zero_point),
                                                 observer.quant_min, observer.quant_max)


def ensure_biases(folded: nn.Module) -> nn.Module:
    """Give every conv a bias (zero where it had none), so there is something to correct and
    the prepared graph has the same parameters whether or not calibration data is at hand."""
    for module in folded.modules():
        if isinstance(module, nn.Conv2d) and module.bias is None:
            module.bias = nn.Parameter(torch.zeros(module.out_channels))
    return folded


@torch.no_grad()
def correct_biases(folded: nn.Module, scheme: SchemeConfig, calibration: list[torch.Tensor]) -> dict[str, float]:
    """Subtract each quantized conv's mean output error from its bias, in place.

    Returns the largest absolute correction per layer, for the log. Layers the scheme keeps
    in float are left alone.
    """
    ensure_biases(folded)
    convs = {name: module for name, module in folded.named_modules()
             if isinstance(module, nn.Conv2d) and not is_kept_float(name, scheme)}
    errors = {name: conv.weight - fake_quantized_weight(conv.weight, scheme) for name, conv in convs.items()}
    shifts = {name: torch.zeros(conv.out_channels) for name, conv in convs.items()}

    def measure(name: str):
        def hook(conv: nn.Conv2d, args) -> None:
            # conv(x, W) - conv(x, W_q) = conv(x, W - W_q); _conv_forward keeps the padding mode.
            shifts[name] += conv._conv_forward(args[0], errors[name], None).mean(dim=(0, 2, 3))
        return hook

    handles = [conv.register_forward_pre_hook(measure(name)) for name, conv in convs.items()]
    try:
        for image in calibration:
            folded(image[None])
    finally:
        for handle in handles:
            handle.remove()
    for name, conv in convs.items():
        conv.bias += shifts[name] / len(calibration)
    return {name: float((shift / len(calibration)).abs().max()) for name, shift in shifts.items()}
