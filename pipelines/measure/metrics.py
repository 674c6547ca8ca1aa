"""Fidelity metrics on image batches in [0, 1] (torchmetrics), and model output helpers."""

from __future__ import annotations

import torch
from torch import nn
from torchmetrics.functional.image import peak_signal_noise_ratio, structural_similarity_index_measure


def psnr(output: torch.Tensor, reference: torch.Tensor) -> float:
    """PSNR in dB over the whole batch, data range 1."""
    return float(peak_signal_noise_ratio(output.clamp(0, 1), reference.clamp(0, 1), data_range=1.0))


def ssim(output: torch.Tensor, reference: torch.Tensor) -> float:
    """Mean SSIM over the batch, data range 1."""
    return float(structural_similarity_index_measure(output.clamp(0, 1), reference.clamp(0, 1), data_range=1.0))


def max_abs_error(output: torch.Tensor, reference: torch.Tensor) -> float:
    return float((output - reference).abs().max())


@torch.no_grad()
def predict(model: nn.Module, images: torch.Tensor) -> torch.Tensor:
    """Run a model one image at a time (exported graphs have batch size 1)."""
    return torch.cat([model(image[None]) for image in images])


def fidelity(model: nn.Module, teacher: nn.Module, heldout: torch.Tensor) -> dict[str, float]:
    """PSNR and SSIM of a model's output against the teacher's on held-out photos."""
    target = predict(teacher.eval(), heldout)
    output = predict(model.eval(), heldout)
    return {"psnr_vs_teacher": psnr(output, target), "ssim_vs_teacher": ssim(output, target)}
