"""What every exporter starts from: the pruned fp32 student, the shipped scheme, its PT2E
simulation and the calibration crops, each loaded once and only when a variant needs it."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import torch
from torch import nn

from stylectl.pipelines.artifacts import Artifact
from stylectl.pipelines.config import RunConfig, SchemeConfig
from stylectl.pipelines.errors import StylectlError


@dataclass
class ExportSource:
    config: RunConfig
    quantized: Artifact
    train_images: list[Path] = field(default_factory=list)

    @property
    def image_size(self) -> int:
        return self.config.data.eval_size

    @property
    def scheme(self) -> SchemeConfig:
        return self.config.quantize.shipped()

    @cached_property
    def fp32(self) -> nn.Module:
        """The float student, BatchNorm folded (what every float file holds)."""
        from stylectl.pipelines.models.fold import fold_batchnorm
        from stylectl.pipelines.models.spec import load_model
        from stylectl.pipelines.quant.build import MODEL

        return fold_batchnorm(load_model(self.quantized.path(MODEL)))

    @cached_property
    def int8(self) -> nn.Module:
        """The shipped scheme's PT2E simulation (an int scheme is required for int8 files)."""
        from stylectl.pipelines.quant.build import load_scheme

        if self.scheme.kind != "int" or self.scheme.activation_bits != 8 or self.scheme.weight_bits != 8:
            raise StylectlError(f"int8 files need an int8 shipped scheme; quantize.ship is '{self.scheme.name}' "
                                f"({self.scheme.describe()})")
        return load_scheme(self.quantized, self.config)

    @cached_property
    def calibration(self) -> list[torch.Tensor]:
        """The calibration crops the quantize stage used (same seed, same photos)."""
        from stylectl.pipelines.quant.build import calibration_crops

        return calibration_crops(self.train_images, self.config)

    def example(self) -> torch.Tensor:
        return torch.rand(1, 3, self.image_size, self.image_size)
