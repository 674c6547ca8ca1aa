"""Accuracy tools of the quantize stage, on a small random student: CLE, bias correction,
entropy calibration, and output-range protection against percentile clipping."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import torch

from stylectl.pipelines.config import SchemeConfig
from stylectl.pipelines.measure.metrics import psnr
from stylectl.pipelines.models.fold import fold_batchnorm
from stylectl.pipelines.models.student import StudentNet, student_params
from stylectl.pipelines.progress import PlainReporter
from stylectl.pipelines.quant.build import build_scheme
from stylectl.pipelines.quant.equalize import equalize
from stylectl.pipelines.quant.observers import EntropyObserver

pytestmark = pytest.mark.slow
SIZE = 64


@pytest.fixture(scope="module")
def student() -> StudentNet:
    """A student whose BatchNorms hold real running statistics, so folding changes the weights.

    The conv head: at random init its full-resolution input has the long tail that percentile
    clipping visibly cuts (the pixel-shuffle head's does not), which the protect_output test needs.
    """
    torch.manual_seed(0)
    model = StudentNet(**student_params(1.0, 2, 1.5, "conv")).train()
    with torch.no_grad():
        for _ in range(5):
            model(torch.rand(4, 3, SIZE, SIZE))
    return model.eval()


@pytest.fixture(scope="module")
def images() -> dict[str, list[torch.Tensor]]:
    generator = torch.Generator().manual_seed(1)
    return {"calibration": [torch.rand(3, SIZE, SIZE, generator=generator) for _ in range(4)],
            "heldout": [torch.rand(1, 3, SIZE, SIZE, generator=generator) for _ in range(2)]}


def _quality(model, scheme: SchemeConfig, images, tmp_path: Path) -> float:
    """Mean PSNR of the scheme's simulation against the float model on the held-out images."""
    simulated = build_scheme(model, scheme, SIZE, images["calibration"], None, PlainReporter(),
                             tmp_path / f"{scheme.name}.safetensors")
    with torch.no_grad():
        return sum(psnr(simulated(x), model(x)) for x in images["heldout"]) / len(images["heldout"])


def test_cross_layer_equalization_keeps_the_function_and_evens_the_ranges(student):
    folded = fold_batchnorm(student)
    equalized = equalize(fold_batchnorm(student))
    image = torch.rand(2, 3, SIZE, SIZE)
    with torch.no_grad():
        assert torch.allclose(equalized(image), folded(image), atol=1e-5)

    def spread(model) -> float:  # how unequal the depthwise filters' ranges are
        ranges = model.down1.depthwise.conv.weight.detach().abs().flatten(1).amax(dim=1)
        return float(ranges.max() / ranges.min())

    assert spread(equalized) < spread(folded)


def test_bias_correction_recovers_quality_lost_to_coarse_weights(student, images, tmp_path):
    coarse = SchemeConfig(name="w4", weight_bits=4, weight_granularity="per_tensor", activation_bits=None)
    plain = _quality(student, coarse, images, tmp_path)
    corrected = _quality(student, coarse.model_copy(update={"name": "w4_bc", "bias_correction": True}),
                         images, tmp_path)
    assert corrected > plain + 1.0


def test_entropy_calibration_drops_rare_outliers_but_keeps_the_bulk():
    torch.manual_seed(0)
    bulk = torch.rand(100_000)  # non-negative, like a ReLU output
    observer = EntropyObserver(dtype=torch.quint8, qscheme=torch.per_tensor_affine)
    observer(torch.cat([bulk, torch.full((20,), 50.0)]))
    low, high = observer._non_linear_param_search()
    assert float(low) == float(observer.min_val)  # a non-negative tensor keeps its lower end
    assert 0.9 < float(high) < 10.0  # the 50.0 outliers are clipped, the [0, 1] bulk is not

    signed = EntropyObserver(dtype=torch.quint8, qscheme=torch.per_tensor_affine)
    signed(torch.cat([torch.randn(100_000), torch.tensor([-80.0, 80.0])]))
    low, high = signed._non_linear_param_search()
    assert -80 < float(low) < -2.5 and 2.5 < float(high) < 80


def test_output_layer_keeps_the_image_range_under_percentile_calibration(student, images, tmp_path):
    """Known failure on image generators: percentile calibration applied to the layer that
    produces the image, and to the image itself, cuts its highlights. protect_output calibrates
    both with min-max. The head's weights are scaled so the random student's image spans a range
    like a trained one's (at random init it is a flat grey, which no calibration clips)."""
    bright = copy.deepcopy(student)
    with torch.no_grad():
        bright.head.weight *= 5
    scheme = SchemeConfig(name="clip", calibration="percentile", percentile=99.0, protect_output=False)
    clipped = _quality(bright, scheme, images, tmp_path)
    protected = _quality(bright, scheme.model_copy(update={"name": "protected", "protect_output": True}),
                         images, tmp_path)
    assert protected > clipped + 3.0
