"""export's parity check: a file whose output is NaN or infinite fails, whatever the tolerance
(NaN compares False with every threshold, so it would otherwise pass)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch
from torch import nn

from stylectl.pipelines.stages.export import _check, parity_not_finite

SETTINGS = SimpleNamespace(parity_min_psnr=25.0, parity_min_psnr_fp32=40.0)


class FakeFormat:
    """A format whose file outputs a fixed tensor."""

    def __init__(self, output: torch.Tensor) -> None:
        self.output = output

    def structure_problems(self, variant, info):
        return []

    def runnable_here(self, variant):
        return None

    def run(self, path, images, threads, options):
        return self.output


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_a_file_that_outputs_nan_or_inf_fails_parity(bad):
    heldout = torch.rand(2, 3, 8, 8)
    output = heldout.clone()
    output[0, 0, 0, 0] = bad
    result = _check(FakeFormat(output), "int8", None, {}, nn.Identity(), heldout, {}, SETTINGS)
    assert result["status"] == "failed" and result["parity"] == "failed"
    assert "not a finite number" in result["reason"]


def test_parity_figures():
    assert parity_not_finite(float("nan"), 0.1)
    assert parity_not_finite(30.0, float("nan"))
    assert parity_not_finite(float("-inf"), 1.0)
    assert parity_not_finite(30.0, 0.01) is None
    assert parity_not_finite(float("inf"), 0.0) is None  # an exact match: mean squared error 0


def test_an_exact_match_passes():
    heldout = torch.rand(2, 3, 8, 8)
    result = _check(FakeFormat(heldout.clone()), "fp32", None, {}, nn.Identity(), heldout, {}, SETTINGS)
    assert result["status"] == "ok" and result["parity_max_abs"] == 0
