"""Issue 6's bar, measured in one run: every scheme of benchmarks/quantize_schemes.yaml, side by side.

Builds (or reuses) a config's pruned student (default: the quickstart's, which `make run`
builds), then runs the quantize stage with the benchmark's schemes, the ONNX Runtime
reference and latency (compare: true).
Bar: the default int8 scheme loses <= 0.3 dB PSNR against the fp32 student on held-out
photos and is at least as good as the ONNX Runtime reference.

Usage: .venv/bin/python benchmarks/quantize_bar.py [--config configs/quickstart.yaml]
Writes benchmarks/RESULTS-quantize.md.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import yaml

from stylectl.pipelines.config import QuantizeConfig
from stylectl.pipelines.config.loading import load_config
from stylectl.pipelines.progress import PlainReporter
from stylectl.pipelines.readers import comparison_plot, comparison_table
from stylectl.pipelines.report.cells import machine
from stylectl.pipelines.runner import plan_stage, run_stages

from results import publish

HERE = Path(__file__).parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=Path("configs/quickstart.yaml"))
    parser.add_argument("--schemes", type=Path, default=HERE / "quantize_schemes.yaml")
    parser.add_argument("--checkpoints", type=Path, default=Path("checkpoints"))
    args = parser.parse_args()

    section = QuantizeConfig.model_validate(yaml.safe_load(args.schemes.read_text())["quantize"])
    config = load_config(args.config).model_copy(update={"quantize": section})
    quantize = run_stages(config, plan_stage("quantize"), args.checkpoints, PlainReporter())[-1].artifact
    rows = {row["name"]: row for row in quantize.metrics["schemes"]}
    shipped, reference = rows[section.shipped().name], rows["ort_reference"]
    loss = rows["fp32"]["psnr_vs_teacher"] - shipped["psnr_vs_teacher"]
    info, plot = machine(), comparison_plot(quantize)
    text = "\n".join([
        "# Quantization bar (issue 6)",
        "",
        f"Command: `.venv/bin/python benchmarks/quantize_bar.py --config {args.config}` (schemes: "
        f"{args.schemes.name}); {quantize.folder}.",
        f"Machine: {info['cpu']}, {info['cores']} cores. Student: the pruned student of {args.config.name} "
        f"({config.data.eval_size}x{config.data.eval_size}); {section.calibration_images} calibration crops; "
        "3 held-out photos. Latency: onnxruntime, 1 thread, median of 3 alternating rounds of 20 runs.",
        "",
        f"- Shipped scheme `{shipped['name']}`: PSNR vs fp32 student {shipped['psnr_vs_fp32']:.2f} dB; "
        f"PSNR vs teacher {shipped['psnr_vs_teacher']:.2f} dB against the fp32 student's "
        f"{rows['fp32']['psnr_vs_teacher']:.2f} dB, a loss of {loss:.3f} dB (bar: <= 0.3 dB).",
        f"- ONNX Runtime reference: PSNR vs fp32 {reference['psnr_vs_fp32']:.2f} dB "
        f"(shipped scheme {'>=' if shipped['psnr_vs_fp32'] >= reference['psnr_vs_fp32'] else '<'} reference).",
        "",
        comparison_table(quantize),
        "![comparison](RESULTS-quantize.png)" if plot else "",
        "",
    ])
    if plot:
        (HERE / "RESULTS-quantize.png").write_bytes(plot.read_bytes())
    publish(text, HERE / "RESULTS-quantize.md")


if __name__ == "__main__":
    main()
