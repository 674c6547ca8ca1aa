"""The one latency boundary: a timed call takes a NumPy array and must hand back a NumPy array."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from stylectl.pipelines.measure.latency import time_inference


def test_a_timed_call_counts_warmup_apart_and_reports_median_and_p90():
    calls = []
    timing = time_inference(lambda array: calls.append(1) or array * 2, np.ones(4, np.float32), warmup=2, runs=5)
    assert len(calls) == 7 and timing["runs"] == 5
    assert 0 <= timing["median_ms"] <= timing["p90_ms"]


def test_an_output_left_as_a_runtime_tensor_is_refused():
    with pytest.raises(TypeError, match="NumPy array"):
        time_inference(lambda array: torch.from_numpy(array), np.ones(4, np.float32), warmup=0, runs=1)
