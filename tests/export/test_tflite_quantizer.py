"""The int8 TFLite quantizer must keep residual adds in int8 (litert's own misses them)."""

from __future__ import annotations

import pytest
import torch

from stylectl.pipelines.models.student import StudentNet, student_params

pytestmark = pytest.mark.slow


def _int8_tflite(quantizer_class, model, tmp_path):
    import litert_torch
    from litert_torch.quantize import pt2e_quantizer
    from litert_torch.quantize.quant_config import QuantConfig
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e

    from stylectl.pipelines.export.tflite import inspect

    example = torch.rand(1, 3, 32, 32)
    quantizer = quantizer_class().set_global(pt2e_quantizer.get_symmetric_quantization_config(is_per_channel=True))
    prepared = prepare_pt2e(torch.export.export(model, (example,)).module(), quantizer)
    prepared(example)
    path = tmp_path / f"{quantizer_class.__name__}.tflite"
    litert_torch.convert(convert_pt2e(prepared, fold_quantize=False), (example,),
                         quant_config=QuantConfig(pt2e_quantizer=quantizer)).export(str(path))
    return inspect(path)


def test_residual_adds_stay_int8(tmp_path):
    from litert_torch.quantize.pt2e_quantizer import PT2EQuantizer

    from stylectl.pipelines.export.tflite_quantizer import ResidualAddQuantizer

    model = StudentNet(**student_params(0.25, 2, 1.5)).eval()
    ours = _int8_tflite(ResidualAddQuantizer, model, tmp_path)
    assert ours["float_compute_ops"] == [] and ours["ops"]["ADD"] == 2
    # the reason this quantizer exists: without it the adds are computed in float
    assert _int8_tflite(PT2EQuantizer, model, tmp_path)["float_compute_ops"] == ["ADD"]
