"""Run ONNX files in onnxruntime, and time every runtime's files the way the report states.

Latency is the median (and p90) of `runs` timed calls after `warmup` untimed calls, with
a fixed intra-op thread count, on one image: what a phone app does per frame. Every runtime
is timed across the same boundary (`BOUNDARY`, `time_inference`), so its numbers compare:
before, LiteRT timed `invoke()` alone while onnxruntime's `run()` also fed the input and
copied the output.

Files that are compared with each other (evaluate's files of one build, the benchmarks) are
timed together by `time_rounds`: every file warmed up, then alternating rounds, so drift on a
busy machine hits every file alike; `round_ratios` gives speed-ups per round, and the spread of
the round medians (`BUSY_SPREAD`) says when the machine was too busy to trust the numbers.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
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
    timed = prepare_onnx(path, image, threads)
    return time_inference(timed.infer, timed.array, warmup, runs)


def prepare_onnx(path: Path, image: torch.Tensor, threads: int) -> "Timed":
    """An ONNX file's session, opened once, ready to time one image across `BOUNDARY`."""
    session = ort_session(path, threads)
    name = session.get_inputs()[0].name
    return Timed(lambda array: session.run(None, {name: array})[0], image[None].numpy())


BOUNDARY = ("one call from a NumPy input array (prepared before timing in the file's own dtype and layout) to "
            "a NumPy output array the caller owns: the runtime's input copy, inference and output copy")


def time_inference(infer: Callable[[np.ndarray], np.ndarray], array: np.ndarray, warmup: int,
                   runs: int) -> dict[str, float]:
    """Median and p90 milliseconds of `infer(array)` across `BOUNDARY`, the one boundary of every runtime.

    `infer` must take the input array and return a NumPy array that no later call overwrites,
    so each runtime pays for its input feed and output copy inside the timed call.
    """
    return time_call(Timed(infer, array).call, warmup, runs)


@dataclass(frozen=True)
class Timed:
    """One file loaded once and ready to time across `BOUNDARY`: its inference call, its input
    prepared (before timing) in the file's own dtype and layout, and the runtime that ran it
    when that differs from the format's (what a format module's `prepare` returns)."""

    infer: Callable[[np.ndarray], np.ndarray]
    array: np.ndarray
    runtime: str | None = None

    def call(self) -> None:
        """One timed inference; refuses an output that is not a NumPy array (the boundary)."""
        if not isinstance(self.infer(self.array), np.ndarray):
            raise TypeError("a timed inference must return its output as a NumPy array (the latency boundary)")


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


BUSY_SPREAD = 0.15
"""The largest spread of a file's round medians, (max - min) / median, that still counts as a
quiet machine. On an idle machine the median of 20 runs of one file moves a few percent from
round to round; a spread above 15% means something else took the cores during some rounds
(another job, thermal throttling), so absolute latencies are not to be trusted, though the
per-round ratios, whose files shared each round's conditions, still mostly hold. Reports print
a warning line, not a failure: a gate on latency judges the median either way."""


def time_rounds(calls: dict[str, Callable[[], object]], warmup: int, runs: int, rounds: int,
                clock: Callable[[], float] = time.perf_counter,
                on_round: Callable[[int], None] | None = None) -> dict[str, dict]:
    """Latency of several files timed together, in alternating rounds.

    Every file gets `warmup` untimed calls first; then each of `rounds` rounds runs the first
    file `runs` times, then the second `runs` times, and so on, so a slow spell of the machine
    falls on every file alike instead of on whichever was timed during it. Per file, in
    milliseconds: `median_ms`, the median over rounds of each round's median; `min_ms` and
    `max_ms`, the fastest and slowest round median; `spread`, (max - min) / median (compare with
    `BUSY_SPREAD`); `p90_ms` over every timed call; `round_ms`, the round medians in order (what
    `round_ratios` divides). `clock` returns seconds (a fake one in tests); `on_round(done)` is
    called after each round.
    """
    if rounds < 1 or runs < 1:
        raise ValueError(f"rounds and runs must be at least 1 (got rounds={rounds}, runs={runs})")
    for call in calls.values():
        for _ in range(warmup):
            call()
    round_ms: dict[str, list[float]] = {name: [] for name in calls}
    samples: dict[str, list[float]] = {name: [] for name in calls}
    for done in range(rounds):
        for name, call in calls.items():
            times = []
            for _ in range(runs):
                started = clock()
                call()
                times.append((clock() - started) * 1000)
            round_ms[name].append(statistics.median(times))
            samples[name] += times
        if on_round:
            on_round(done + 1)
    return {name: _summary(round_ms[name], samples[name], runs) for name in calls}


def _summary(round_ms: list[float], samples: list[float], runs: int) -> dict:
    median = statistics.median(round_ms)
    low, high = min(round_ms), max(round_ms)
    return {"median_ms": median, "min_ms": low, "max_ms": high, "spread": (high - low) / median if median > 0 else 0.0,
            "p90_ms": float(np.percentile(samples, 90)), "round_ms": round_ms, "runs": runs, "rounds": len(round_ms)}


def round_ratios(timings: dict[str, dict], baseline: str) -> dict[str, dict[str, float]]:
    """Each file's speed-up over `baseline` from `time_rounds`: the baseline's round median over
    the file's, round by round (both timed in the same round), then the median and the min-max
    of those ratios: {"median", "min", "max", "rounds": [ratio per round]}."""
    reference = timings[baseline]["round_ms"]
    ratios = {}
    for name, timing in timings.items():
        per_round = [base / own for base, own in zip(reference, timing["round_ms"]) if own > 0]
        if per_round:
            ratios[name] = {"median": statistics.median(per_round), "min": min(per_round), "max": max(per_round),
                            "rounds": per_round}
    return ratios


def busy_files(spreads: dict[str, float | None], threshold: float = BUSY_SPREAD) -> dict[str, float]:
    """The files (name -> spread) whose round medians spread more than `threshold`: the machine
    was busy while they ran. `spreads`: file -> (max - min) / median over rounds, None if untimed."""
    return {name: spread for name, spread in spreads.items() if spread is not None and spread > threshold}


def busy_warning(spreads: dict[str, float | None], threshold: float = BUSY_SPREAD) -> str | None:
    """The warning line reports and the terminal summary print when some file's spread over
    rounds passes `threshold`, or None on a quiet machine."""
    busy = busy_files(spreads, threshold)
    if not busy:
        return None
    worst = max(busy, key=busy.get)
    return (f"Warning: the machine was busy while timing: {len(busy)} file(s) varied by more than "
            f"{threshold:.0%} between rounds (worst: {worst}, {busy[worst]:.0%}); latencies are unreliable, "
            "rerun on a quiet machine.")
