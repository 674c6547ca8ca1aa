"""Percentile and entropy activation observers for PT2E (torch ships min-max, moving-average and
histogram/L2 search; written by hand here because torchao has neither).

Both ignore the rarest extreme activations so the common range gets finer steps. They are
the observers here that clip; `protect_output` keeps them away from the layer that produces
the image.
"""

from __future__ import annotations

import torch
from torchao.quantization.pt2e import HistogramObserver, MinMaxObserver

SAMPLE = 1 << 20  # elements per batch used to estimate the percentiles (torch.quantile's limit is 16M)


class PercentileObserver(MinMaxObserver):
    """Range = [widest low percentile, widest high percentile] seen over the calibration batches.

    Stored in MinMaxObserver's `min_val`/`max_val` buffers, so its state saves and loads
    like any other observer.
    """

    def __init__(self, percentile: float = 99.99, **kwargs) -> None:
        super().__init__(**kwargs)
        self.percentile = percentile

    def forward(self, x_orig: torch.Tensor) -> torch.Tensor:
        if x_orig.numel() == 0:
            return x_orig
        values = x_orig.detach().flatten().float()
        if values.numel() > SAMPLE:
            values = values[torch.linspace(0, values.numel() - 1, SAMPLE).long()]
        fraction = self.percentile / 100
        low, high = torch.quantile(values, torch.tensor([1 - fraction, fraction]))
        self.min_val.copy_(torch.minimum(self.min_val, low))
        self.max_val.copy_(torch.maximum(self.max_val, high))
        return x_orig


class EntropyObserver(HistogramObserver):
    """Range that minimises the KL divergence between the activation histogram and its
    quantized version (the "entropy" calibration of TensorRT and ONNX Runtime).

    torch's histogram observer keeps the 2048-bin histogram; only the range search differs
    (torch's own minimises the L2 error: that is `calibration: mse`). Non-negative tensors
    (after ReLU) search the upper end only; signed ones shrink both ends toward zero by one
    common factor.
    """

    CANDIDATES = 128

    def _non_linear_param_search(self) -> tuple[torch.Tensor, torch.Tensor]:
        histogram = self.histogram.float().clone()
        bins, levels = histogram.numel(), self.quant_max - self.quant_min + 1
        if levels >= bins or histogram.sum() == 0:
            return self.min_val, self.max_val
        width = (self.max_val - self.min_val) / bins
        zero = 0 if self.min_val >= 0 else int(torch.clamp(-self.min_val / width, 0, bins - 1).round())
        # After a ReLU about half the values are exactly 0; that one spike would dominate the
        # divergence and pull the range in. Like NVIDIA's calibrator, let it count as its neighbour.
        neighbour = zero + 1 if zero + 1 < bins else zero - 1
        histogram[zero] = histogram[neighbour]
        ranges, divergences = [], []
        for fraction in torch.linspace(levels / bins, 1.0, self.CANDIDATES).tolist():
            low = zero - round(zero * fraction)
            high = zero + round((bins - zero) * fraction)
            if high - low >= levels:
                ranges.append((low, high))
                divergences.append(_kl_after_quantizing(histogram, low, high, levels))
        # A spike in the histogram that lands exactly on a candidate's edge bin gives that one
        # candidate a spuriously low divergence; the median over neighbouring candidates ignores it.
        smoothed = torch.tensor(divergences)[None, None]
        smoothed = torch.nn.functional.pad(smoothed, (2, 2), mode="replicate")[0, 0].unfold(0, 5, 1).median(dim=1).values
        low, high = ranges[int(smoothed.argmin())]
        return self.min_val + width * low, self.min_val + width * high


def _kl_after_quantizing(histogram: torch.Tensor, low: int, high: int, levels: int) -> float:
    """KL(P || Q) as TensorRT and ONNX Runtime define it: P is the histogram cut to bins
    [low, high) with the outliers folded into the edge bins (what clipping does to them); Q is
    the cut histogram without the outliers, merged into `levels` equal steps and spread back
    over the bins non-empty in P. Both are smoothed so empty bins cost a finite amount."""
    kept = histogram[low:high]
    reference = kept.clone()
    reference[0] += histogram[:low].sum()
    reference[-1] += histogram[high:].sum()
    step = torch.arange(kept.numel()) * levels // kept.numel()
    occupied = (reference > 0).float()
    mass = torch.zeros(levels).scatter_add_(0, step, kept)
    count = torch.zeros(levels).scatter_add_(0, step, occupied)
    quantized = occupied * (mass / count.clamp(min=1))[step]
    p, q = _smoothed(reference), _smoothed(quantized)
    return float((p * (p / q).log()).sum())


def _smoothed(counts: torch.Tensor, eps: float = 1e-4) -> torch.Tensor:
    """The normalised distribution with `eps` added to its empty bins (then renormalised)."""
    distribution = counts / counts.sum().clamp(min=1e-12)
    distribution = distribution + eps * (distribution == 0)
    return distribution / distribution.sum()
