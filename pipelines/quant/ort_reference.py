"""The baseline every comparison includes: ONNX Runtime's own static quantization.

`quantize_static` with QDQ nodes, per-channel int8 weights, uint8 activations and min-max
calibration on the same crops the PT2E schemes see: what a team gets from the most widely
used tool with its documented settings.
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch
from torch import nn

from stylectl.pipelines.models.to_onnx import export_onnx


class _Crops:
    """onnxruntime's CalibrationDataReader protocol over a list of images."""

    def __init__(self, images: list[torch.Tensor], input_name: str) -> None:
        self.feeds = iter([{input_name: image[None].numpy()} for image in images])

    def get_next(self):
        return next(self.feeds, None)


def quantize_reference(model: nn.Module, calibration: list[torch.Tensor], image_size: int, opset: int,
                       path: Path) -> Path:
    """Write the ORT-quantized int8 QDQ file for `model` at `path` (its fp32 source beside it)."""
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static

    fp32 = path.with_name(f"{path.stem}_fp32_source.onnx")
    export_onnx(model, image_size, opset, fp32)
    tmp = path.with_name(f".tmp-{path.name}")
    logging.disable(logging.WARNING)  # it logs advice to pre-process on the root logger, every call
    try:
        quantize_static(str(fp32), str(tmp), _Crops(calibration, "image"), quant_format=QuantFormat.QDQ,
                        per_channel=True, activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                        calibrate_method=CalibrationMethod.MinMax)
    finally:
        logging.disable(logging.NOTSET)
    tmp.replace(path)
    fp32.unlink()
    return path
