"""Run ONNX files in onnxruntime and time them the way the report states.

Latency is the median (and p90) of `runs` timed calls after `warmup` untimed calls, with
a fixed intra-op thread count, on one image: what a phone app does per frame.
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
    session = ort_session(path, threads)
    name = session.get_inputs()[0].name
    outputs = [session.run(None, {name: image[None].numpy()})[0] for image in images]
    return torch.from_numpy(np.concatenate(outputs))


def time_onnx(path: Path, image: torch.Tensor, threads: int, warmup: int, runs: int) -> dict[str, float]:
    """Median and p90 latency in milliseconds of one image through an ONNX file."""
    session = ort_session(path, threads)
    feed = {session.get_inputs()[0].name: image[None].numpy()}
    return time_call(lambda: session.run(None, feed), warmup, runs)


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
