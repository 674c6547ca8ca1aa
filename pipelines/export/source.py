"""What every exporter starts from, read from the quantize artifact: the pruned fp32 student,
the shipped scheme, its PT2E simulation and the calibration crops, each loaded once and only
when a variant needs it. `ModelSource` gives the same fields for a model already in memory (the
scheme matrix's schemes, the float file the 16x8 TFLite writer quantizes)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import torch
from torch import nn

from stylectl.pipelines import readers
from stylectl.pipelines.artifacts import Artifact
from stylectl.pipelines.config import SchemeConfig
from stylectl.pipelines.errors import StylectlError
from stylectl.pipelines.quant.build import quantized_student


@dataclass
class ExportSource:
    quantized: Artifact

    @cached_property
    def image_size(self) -> int:
        """The size the quantize stage traced its graphs at (the evaluation size)."""
        return readers.traced_size(self.quantized)

    @cached_property
    def scheme(self) -> SchemeConfig:
        return readers.shipped_scheme(self.quantized)

    @cached_property
    def fp32(self) -> nn.Module:
        """The float student, BatchNorm folded (what every float file holds)."""
        from stylectl.pipelines.models.fold import fold_batchnorm

        return fold_batchnorm(readers.quantized_fp32(self.quantized))

    @cached_property
    def integer(self) -> nn.Module:
        """The shipped scheme's PT2E simulation, which the ONNX `int8` file lowers at the scheme's own bits
        (8- or 4-bit weights, 8- or 16-bit activations); an int scheme that quantizes activations is required."""
        if self.scheme.kind != "int" or self.scheme.activation_bits is None:
            raise StylectlError(f"integer files need an int shipped scheme that quantizes activations; quantize.ship "
                                f"is '{self.scheme.name}' ({self.scheme.describe()})")
        return quantized_student(self.quantized, self.scheme)

    @cached_property
    def calibration(self) -> list[torch.Tensor]:
        """The calibration crops the quantize stage used, as it saved them."""
        return readers.calibration(self.quantized)

    def example(self) -> torch.Tensor:
        return torch.rand(1, 3, self.image_size, self.image_size)


@dataclass
class ModelSource:
    """What a format's `write` reads from an ExportSource, for a model in memory rather than a build:
    its folded fp32 model, the size it is traced at, and (for quantized variants) a scheme and crops."""

    fp32: nn.Module
    image_size: int
    scheme: SchemeConfig | None = None
    calibration: list[torch.Tensor] | None = None

    def example(self) -> torch.Tensor:
        return torch.rand(1, 3, self.image_size, self.image_size)
