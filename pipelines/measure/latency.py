"""Run ONNX files in onnxruntime, and time every runtime's files the way the report states.

Latency is the median (and p90) of `runs` timed calls after `warmup` untimed calls, with
a fixed intra-op thread count, on one image: what a phone app does per frame. Every runtime
is timed across the same boundary (`BOUNDARY`, `time_inference`), so its numbers compare:
before, LiteRT timed `invoke()` alone while onnxruntime's `run()` also fed the input and
copied the output.
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path
from typing import Callable

import numpy as np
import torch


def ort_session(path: Path, threads: int):
    """An onnxruntime CPU session pinned to `threads` intra-op threads."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def run_onnx(path: Path, images: torch.Tensor, threads: int = 1) -> torch.Tensor:
    """Outputs of an ONNX file for a batch, one image per call."""
    return run_session(ort_session(path, threads), images)


def run_session(session, images: torch.Tensor) -> torch.Tensor:
    """Outputs of an open onnxruntime session (any execution provider) for a batch, one image per call."""
    name = session.get_inputs()[0].name
    outputs = [session.run(None, {name: image[None].numpy()})[0] for image in images]
    return torch.from_numpy(np.concatenate(outputs))


def time_onnx(path: Path, image: torch.Tensor, threads: int, warmup: int, runs: int) -> dict[str, float]:
    """Median and p90 latency in milliseconds of one image through an ONNX file (across `BOUNDARY`)."""
    session = ort_session(path, threads)
    name = session.get_inputs()[0].name
    return time_inference(lambda array: session.run(None, {name: array})[0], image[None].numpy(), warmup, runs)


BOUNDARY = ("one call from a NumPy input array (prepared before timing in the file's own dtype and layout) to "
            "a NumPy output array the caller owns: the runtime's input copy, inference and output copy")


def time_inference(infer: Callable[[np.ndarray], np.ndarray], array: np.ndarray, warmup: int,
                   runs: int) -> dict[str, float]:
    """Median and p90 milliseconds of `infer(array)` across `BOUNDARY`, the one boundary of every runtime.

    `infer` must take the input array and return a NumPy array that no later call overwrites,
    so each runtime pays for its input feed and output copy inside the timed call.
    """
    def call() -> None:
        if not isinstance(infer(array), np.ndarray):
            raise TypeError("a timed inference must return its output as a NumPy array (the latency boundary)")

    return time_call(call, warmup, runs)


def time_call(call: Callable[[], object], warmup: int, runs: int) -> dict[str, float]:
    """Median and p90 wall time in milliseconds of `call()` after `warmup` untimed calls."""
    for _ in range(warmup):
        call()
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        call()
        samples.append((time.perf_counter() - started) * 1000)
    return {"median_ms": statistics.median(samples), "p90_ms": float(np.percentile(samples, 90)), "runs": runs}


def compare_onnx(files: dict[str, Path], image: torch.Tensor, threads: int, warmup: int, runs: int,
                 rounds: int) -> dict[str, float]:
    """Median latency (ms) of each file, timed in `rounds` alternating rounds.

    Alternating means drift on a noisy machine (another job, thermal throttling) hits every
    file alike, so the ratios between them hold even when the absolute numbers wander.
    """
    medians: dict[str, list[float]] = {name: [] for name in files}
    for _ in range(rounds):
        for name, path in files.items():
            medians[name].append(time_onnx(path, image, threads, warmup, runs)["median_ms"])
    return {name: statistics.median(values) for name, values in medians.items()}
