"""The scheme matrix on one student: w8a8, w8a16, 4-bit weights and a sensitivity-driven mixed scheme,
each as the files of every runtime that carries it, run, timed and simulated by QNN HTP.

Builds (or reuses) a config's pruned student (default: the quickstart's, which `make run` builds),
runs the quantization sensitivity scan to choose the layers the mixed scheme gives 16-bit
activations (the most sensitive first, until the scheme reaches `--mixed-budget` dB against the
fp32 student), then the quantize stage with `--compare` on the schemes below.
Bar: w8a16's QNN-simulated PSNR against the fp32 student is at least 6 dB above w8a8's.

Usage: .venv/bin/python benchmarks/scheme_matrix.py [--config configs/quickstart.yaml] [--mixed-budget 45]
Writes benchmarks/RESULTS-scheme-matrix.md and RESULTS-scheme-matrix.png.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from stylectl.pipelines.config import QuantizeConfig
from stylectl.pipelines.config.loading import load_config
from stylectl.pipelines.progress import PlainReporter
from stylectl.pipelines.readers import comparison_plot, comparison_table
from stylectl.pipelines.report.cells import machine
from stylectl.pipelines.runner import plan_stage, run_stages
from stylectl.pipelines.studies.quant_sensitivity import run_quant_sensitivity

from results import publish

HERE = Path(__file__).parent
BAR_DB = 6.0


def schemes(mixed: list[str]) -> list[dict]:
    return [{"name": "w8a8"}, {"name": "w8a16", "activation_bits": 16}, {"name": "w4a8", "weight_bits": 4},
            {"name": "w4a16", "weight_bits": 4, "activation_bits": 16},
            {"name": "mixed", "activations_16bit": mixed}, {"name": "fp16", "kind": "fp16"}]


def _step(step: dict) -> str:
    return f"{len(step['activations_16bit'])} layer(s) {step['psnr_vs_fp32']:.2f} dB"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=Path("configs/quickstart.yaml"))
    parser.add_argument("--checkpoints", type=Path, default=Path("checkpoints"))
    parser.add_argument("--mixed-budget", type=float, default=45.0,
                        help="dB against the fp32 student the mixed scheme's 16-bit layers must reach")
    parser.add_argument("--output", type=Path, default=HERE / "RESULTS-scheme-matrix.md")
    args = parser.parse_args()

    base = load_config(args.config)
    scan_section = base.quantize.model_copy(update={
        "schemes": [base.quantize.schemes[0].model_copy(update={"name": "w8a8"})], "ship": "w8a8",
        "min_psnr_vs_fp32": args.mixed_budget})
    scan = run_quant_sensitivity(base.model_copy(update={"quantize": scan_section}), args.checkpoints,
                                 PlainReporter())
    sensitivity = json.loads((scan / "sensitivity.json").read_text())
    mixed = sensitivity["suggested_activations_16bit"]

    section = QuantizeConfig.model_validate({"calibration_images": base.quantize.calibration_images, "ship": "w8a8",
                                             "reference": True, "compare": True, "schemes": schemes(mixed)})
    config = base.model_copy(update={"quantize": section})
    quantize = run_stages(config, plan_stage("quantize"), args.checkpoints, PlainReporter())[-1].artifact
    rows = {row["name"]: row for row in quantize.metrics["schemes"]}
    simulated = {name: row.get("qnn", {}).get("psnr_vs_fp32") for name, row in rows.items()}
    gain = simulated["w8a16"] - simulated["w8a8"]
    info, plot = machine(), comparison_plot(quantize)
    ladder = sensitivity["mixed_16bit"]
    text = "\n".join([
        "# Quantization scheme matrix: w8a8, w8a16, 4-bit weights, mixed 16-bit layers",
        "",
        f"Command: `.venv/bin/python benchmarks/scheme_matrix.py --config {args.config} --mixed-budget "
        f"{args.mixed_budget:g}`; {quantize.folder}.",
        f"Machine: {info['cpu']}, {info['cores']} cores, no GPU; one run. Student: the pruned student of "
        f"{args.config.name} ({config.data.eval_size}x{config.data.eval_size}); {section.calibration_images} "
        "calibration crops; 3 held-out photos. Latency: 1 thread, 3 warm-up runs of each file, then 3 alternating "
        "rounds of 20 runs of every file; median of the round medians (min-max over rounds). QNN HTP: "
        f"onnxruntime-qnn's HTP backend compiling for {config.export.qnn_soc} and simulating the NPU on x86; int "
        "files run at their own bits, float files at the HTP's fp16.",
        "",
        f"- **Bar**: w8a16's QNN-simulated PSNR against the fp32 student {simulated['w8a16']:.2f} dB, w8a8's "
        f"{simulated['w8a8']:.2f} dB: {gain:+.2f} dB (bar: >= +{BAR_DB:g} dB, "
        f"{'met' if gain >= BAR_DB else 'not met'}).",
        f"- Mixed scheme: the sensitivity scan widened {len(mixed)} layer(s) to 16-bit activations to reach "
        f"{args.mixed_budget:g} dB in the simulation: {', '.join(mixed) or '(none)'} "
        f"(ladder: {'; '.join(_step(step) for step in ladder)}).",
        "",
        comparison_table(quantize),
        f"![scheme matrix]({args.output.with_suffix('.png').name})" if plot else "",
        "",
    ])
    if plot:
        args.output.with_suffix(".png").write_bytes(plot.read_bytes())
    publish(text, args.output)


if __name__ == "__main__":
    main()
