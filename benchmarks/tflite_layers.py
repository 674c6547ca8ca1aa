"""Where int8 TFLite pays off, layer by layer: fp32 vs full-integer int8 latency of each kind
of student layer at the quickstart student's shapes (LiteRT with XNNPACK, 1 thread).

Issue 7 asks the int8 file to run >= 2x faster than the fp32 one. This script explains the
ratio the whole student gets: each layer is converted alone, twice (fp32, and int8 through
the same litert-torch path and shipped scheme as `stylectl export`, calibrated on random
inputs, which sets ranges but not speed), and the two files are timed in alternating rounds.

Usage: .venv/bin/python benchmarks/tflite_layers.py [--config configs/quickstart.yaml]
Writes benchmarks/RESULTS-tflite-layers.md.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path
from types import SimpleNamespace

import torch
from torch import nn

from stylectl.pipelines.config.loading import load_config
from stylectl.pipelines.export import tflite
from stylectl.pipelines.models.fold import fold_batchnorm
from stylectl.pipelines.models.student import InvertedResidual, conv_bn
from stylectl.pipelines.report.cells import machine

from results import publish

ROUNDS, RUNS, WARMUP = 5, 50, 5
OPTIONS = {"nhwc": True, "int8_io": True}  # NHWC I/O: no layout transposes around a lone layer
HERE = Path(__file__).parent

# (what, module, input shape CHW): the pruned quickstart student's layers, in graph order.
LAYERS = [
    ("stem: 3x3 conv 3->8, 256x256", lambda: conv_bn(3, 8, 3), (3, 256, 256)),
    ("down: 3x3 depthwise stride 2, 8 ch, 256->128", lambda: conv_bn(8, 8, 3, 2, groups=8), (8, 256, 256)),
    ("down: 1x1 conv 8->24, 128x128", lambda: conv_bn(8, 24, 1), (8, 128, 128)),
    ("block: 1x1 expand 64->96, 64x64", lambda: conv_bn(64, 96, 1), (64, 64, 64)),
    ("block: 3x3 depthwise, 96 ch, 64x64", lambda: conv_bn(96, 96, 3, groups=96), (96, 64, 64)),
    ("block: 1x1 project 96->64, 64x64", lambda: conv_bn(96, 64, 1, relu=False), (96, 64, 64)),
    ("block: whole inverted residual (with add), 64x64", lambda: InvertedResidual(64, 96), (64, 64, 64)),
    ("up: 3x3 depthwise, 64 ch, 128x128", lambda: conv_bn(64, 64, 3, groups=64), (64, 128, 128)),
    ("up: 1x1 conv 64->24, 128x128", lambda: conv_bn(64, 24, 1), (64, 128, 128)),
    ("head: 3x3 conv 24->12, 128x128", lambda: nn.Conv2d(24, 12, 3, padding=1), (24, 128, 128)),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=Path("configs/quickstart.yaml"))
    args = parser.parse_args()
    scheme = load_config(args.config).quantize.shipped()
    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as scratch:
        files = {}
        for index, (what, build, shape) in enumerate(LAYERS):
            # A lone layer's input is a ReLU output in the network: non-negative.
            source = SimpleNamespace(fp32=fold_batchnorm(build().eval()), scheme=scheme,
                                     calibration=[torch.randn(shape).abs() for _ in range(4)],
                                     example=lambda shape=shape: torch.rand(1, *shape))
            for variant in ("fp32", "int8"):
                files[what, variant] = Path(scratch) / f"layer{index}_{variant}.tflite"
                tflite.write(variant, source, files[what, variant], OPTIONS, 18)
        shapes = {what: shape for what, _, shape in LAYERS}
        medians = {key: [] for key in files}
        for _ in range(ROUNDS):
            for (what, variant), path in files.items():
                timing = tflite.time(path, torch.rand(shapes[what]), 1, WARMUP, RUNS, OPTIONS)
                medians[what, variant].append(timing["median_ms"])
    rows = []
    for what, _, _ in LAYERS:
        fp32, int8 = statistics.median(medians[what, "fp32"]), statistics.median(medians[what, "int8"])
        rows.append(f"| {what} | {fp32:.3f} ms | {int8:.3f} ms | {fp32 / int8:.2f}x |")
    info = machine()
    text = "\n".join([
        "# int8 vs fp32 TFLite, layer by layer (issue 7)",
        "",
        f"Command: `.venv/bin/python benchmarks/tflite_layers.py --config {args.config}`",
        f"Machine: {info['cpu']}, {info['cores']} cores; runtime {timing['runtime']} (XNNPACK), 1 thread. "
        f"Each layer alone, NHWC I/O; median of {ROUNDS} alternating rounds, each the median of {RUNS} runs "
        f"after {WARMUP} warm-up.",
        "",
        "| layer | fp32 | int8 | int8 speed-up |",
        "|---|---|---|---|",
        *rows,
        "",
    ])
    publish(text, HERE / "RESULTS-tflite-layers.md")


if __name__ == "__main__":
    main()
