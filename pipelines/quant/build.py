"""Build, save and reload one scheme's simulated model, whatever its kind and method."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import torch
from torch import nn

from stylectl.pipelines import readers
from stylectl.pipelines.artifacts import Artifact
from stylectl.pipelines.config import RunConfig, SchemeConfig
from stylectl.pipelines.progress import Reporter
from stylectl.pipelines.quant import pt2e
from stylectl.pipelines.quant.fp16 import float16_simulation


def state_file(scheme: SchemeConfig) -> str:
    """Where a scheme's PT2E state lives in the quantize artifact (fp16 needs none)."""
    return f"scheme_{scheme.name}.safetensors"


def build_scheme(model: nn.Module, scheme: SchemeConfig, image_size: int, calibration: list[torch.Tensor],
                 train: Callable[[nn.Module], float], reporter: Reporter, state_path: Path) -> nn.Module:
    """The scheme's simulated model; PT2E state saved to `state_path`.

    PTQ runs the calibration crops through the observers; QAT lets `train(prepared)`
    fine-tune the fake-quantized graph, whose moving-average observers calibrate as it trains.
    """
    if scheme.kind == "fp16":
        return float16_simulation(model)
    prepared = pt2e.prepare(model, image_size, scheme, calibration=calibration)
    if scheme.method == "qat":
        train(prepared)
    else:
        calibrate(prepared, calibration, reporter, f"calibrate {scheme.name}")
    pt2e.save_state(prepared, state_path)
    return pt2e.convert(prepared, scheme)


def quantized_student(artifact: Artifact, scheme: SchemeConfig | None = None) -> nn.Module:
    """The simulated model of `scheme` (default: the shipped one) in a quantize artifact, rebuilt from
    its fp32 model and the scheme's saved state exactly as `build_scheme` built it."""
    scheme = scheme or readers.shipped_scheme(artifact)
    model = readers.quantized_fp32(artifact).eval()
    if scheme.kind == "fp16":
        return float16_simulation(model)
    return pt2e.load_quantized(model, artifact.path(state_file(scheme)), readers.traced_size(artifact), scheme)


def calibration_crops(images: list[torch.Tensor], config: RunConfig) -> list[torch.Tensor]:
    """The calibration set every scheme shares: seeded crops of the loaded training photos at the
    evaluation size (the quantize stage saves them; export reads them from its artifact)."""
    from stylectl.pipelines.train.datamodule import RandomCropDataset

    crops = RandomCropDataset(images, config.data.eval_size, config.quantize.calibration_images, config.seed)
    return [crops[index] for index in range(len(crops))]


@torch.no_grad()
def calibrate(prepared: nn.Module, calibration: list[torch.Tensor], reporter: Reporter | None = None,
              description: str = "calibrate") -> None:
    """Run the calibration crops through a prepared graph's observers, one image at a time.

    Without a reporter it runs silently (the sensitivity scan calibrates dozens of times
    and reports its own progress).
    """
    if reporter is None:
        for image in calibration:
            prepared(image[None])
        return
    with reporter.task(description, len(calibration)) as task:
        for index, image in enumerate(calibration):
            prepared(image[None])
            task.update(index + 1)
