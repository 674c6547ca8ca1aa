"""The one latency boundary: a timed call takes a NumPy array and must hand back a NumPy array.
Files compared with each other are timed in alternating rounds, on a fake clock here."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from stylectl.pipelines.measure.latency import (BUSY_SPREAD, busy_files, busy_warning, round_ratios, time_inference,
                                                time_rounds)


def test_a_timed_call_counts_warmup_apart_and_reports_median_and_p90():
    calls = []
    timing = time_inference(lambda array: calls.append(1) or array * 2, np.ones(4, np.float32), warmup=2, runs=5)
    assert len(calls) == 7 and timing["runs"] == 5
    assert 0 <= timing["median_ms"] <= timing["p90_ms"]


def test_an_output_left_as_a_runtime_tensor_is_refused():
    with pytest.raises(TypeError, match="NumPy array"):
        time_inference(lambda array: torch.from_numpy(array), np.ones(4, np.float32), warmup=0, runs=1)


class FakeFiles:
    """Files whose calls take scripted times on a fake clock, logging the order they ran in."""

    def __init__(self, durations_ms: dict[str, list[float]]) -> None:
        self.now, self.order = 0.0, []
        self.durations = {name: list(times) for name, times in durations_ms.items()}

    def clock(self) -> float:
        return self.now

    def calls(self) -> dict:
        def call(name):
            self.order.append(name)
            self.now += self.durations[name].pop(0) / 1000
        return {name: (lambda name=name: call(name)) for name in self.durations}


def test_rounds_warm_every_file_up_first_then_alternate_files_each_round():
    files = FakeFiles({"a": [1.0] * 7, "b": [1.0] * 7})
    rounds_done = []
    time_rounds(files.calls(), warmup=1, runs=2, rounds=3, clock=files.clock, on_round=rounds_done.append)
    assert files.order == ["a", "b"] + ["a", "a", "b", "b"] * 3
    assert rounds_done == [1, 2, 3]


def test_latency_is_the_median_of_round_medians_with_their_range_and_per_round_ratios():
    # warm-up 50 ms (not counted), then 3 runs per round; the 30/40 ms outliers drop out of each round's median
    files = FakeFiles({"teacher": [50, 20, 21, 30, 24, 22, 40, 19, 20, 21],
                       "student": [50, 10, 10, 12, 11, 12, 11, 5, 5, 6]})
    timings = time_rounds(files.calls(), warmup=1, runs=3, rounds=3, clock=files.clock)
    teacher, student = timings["teacher"], timings["student"]
    assert teacher["round_ms"] == pytest.approx([21, 24, 20])
    assert (teacher["median_ms"], teacher["min_ms"], teacher["max_ms"]) == pytest.approx((21, 20, 24))
    assert teacher["spread"] == pytest.approx(4 / 21)
    assert student["round_ms"] == pytest.approx([10, 11, 5])
    assert student["spread"] == pytest.approx(6 / 10)
    assert teacher["rounds"] == 3 and teacher["runs"] == 3
    ratios = round_ratios(timings, "teacher")
    assert ratios["student"]["rounds"] == pytest.approx([2.1, 24 / 11, 4.0])
    assert (ratios["student"]["median"], ratios["student"]["min"], ratios["student"]["max"]) == pytest.approx(
        (24 / 11, 2.1, 4.0))
    assert ratios["teacher"]["median"] == pytest.approx(1.0)


def test_the_busy_warning_names_the_worst_file_only_when_a_spread_passes_the_threshold():
    assert busy_warning({"teacher (onnx)": 0.05, "student int8 (onnx)": BUSY_SPREAD, "coreml": None}) is None
    warning = busy_warning({"teacher (onnx)": 0.05, "student int8 (onnx)": 0.6, "student fp32 (onnx)": 0.2})
    assert warning.startswith("Warning: the machine was busy while timing: 2 file(s)")
    assert "worst: student int8 (onnx), 60%" in warning
    assert busy_files({"a": 0.16, "b": 0.1}) == {"a": 0.16}
