"""The quantize stage on the tiny build: several schemes side by side, the ONNX Runtime
reference, the comparison table and plot, reloading, and the sensitivity scan."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import yaml

from stylectl.pipelines import readers
from stylectl.pipelines.config import RunConfig
from stylectl.pipelines.data import eval_batch, load_images, resolve_content
from stylectl.pipelines.measure.metrics import predict, psnr
from stylectl.pipelines.progress import PlainReporter
from stylectl.pipelines.quant.build import calibration_crops, quantized_student, state_file
from stylectl.pipelines.runner import plan_stage, run_stages
from tests.conftest import TINY_CONFIG

pytestmark = pytest.mark.slow

SCHEMES = [
    {"name": "int8"},
    {"name": "qat", "method": "qat", "qat_steps": 2},
    {"name": "fp16", "kind": "fp16"},
    {"name": "w4a8_bc", "weight_bits": 4, "bias_correction": True},
    {"name": "weights_only", "activation_bits": None, "weight_granularity": "per_tensor"},
    {"name": "cle_entropy", "equalize": True, "calibration": "entropy", "weight_granularity": "per_tensor"},
    {"name": "a16", "activation_bits": 16, "keep_float": ["head"]},
]


@pytest.fixture(scope="module")
def compared(tiny_build):
    """The tiny build's quantize stage re-run with every kind of scheme and --compare."""
    data = yaml.safe_load(yaml.safe_dump(TINY_CONFIG))
    data["quantize"].update(schemes=SCHEMES, ship="w4a8_bc", compare=True)
    config = RunConfig.model_validate(data)
    outcome = run_stages(config, plan_stage("quantize"), tiny_build.checkpoints, PlainReporter())[-1]
    return config, outcome.artifact


def test_every_scheme_gets_a_row_with_quality_and_size(compared):
    _, artifact = compared
    rows = {row["name"]: row for row in artifact.metrics["schemes"]}
    assert list(rows) == ["fp32"] + [scheme["name"] for scheme in SCHEMES] + ["ort_reference"]
    for row in rows.values():
        assert {"psnr_vs_fp32", "ssim_vs_fp32", "psnr_vs_teacher", "ssim_vs_teacher", "weight_bytes"} <= set(row)
    for name, row in rows.items():
        assert (row["latency_ms"] > 0) if name != "a16" else "cannot load" in row["latency_note"]
    assert rows["fp32"]["psnr_vs_fp32"] == float("inf") or rows["fp32"]["psnr_vs_fp32"] > 80
    assert rows["w4a8_bc"]["weight_bytes"] < rows["int8"]["weight_bytes"] < rows["fp16"]["weight_bytes"] \
        < rows["fp32"]["weight_bytes"]
    assert "bias correction" in rows["w4a8_bc"]["description"]
    assert artifact.metrics["ship"] == "w4a8_bc"


def test_comparison_table_plot_and_reference_file_are_written(compared):
    _, artifact = compared
    table = (artifact.folder / "comparison.md").read_text()
    assert "ort_reference" in table and "latency" in table.lower()
    assert (artifact.folder / "comparison.png").read_bytes().startswith(b"\x89PNG")
    import onnx

    reference = onnx.load(str(artifact.folder / "ort_reference_int8.onnx"))
    assert any(node.op_type == "QuantizeLinear" for node in reference.graph.node)


def test_saved_schemes_reload_to_the_same_simulation(compared):
    """Export and evaluate rebuild each scheme from the artifact; they must score exactly
    what the stage recorded."""
    config, artifact = compared
    split = resolve_content(config.data.content, config.data.holdout_fraction)
    heldout = eval_batch(split.heldout, config.data.eval_size)
    fp32 = predict(readers.quantized_fp32(artifact).eval(), heldout)
    rows = {row["name"]: row for row in artifact.metrics["schemes"]}
    for scheme in config.quantize.schemes:
        if scheme.kind == "int":
            assert (artifact.folder / state_file(scheme)).is_file()
        reloaded = predict(quantized_student(artifact, scheme), heldout)
        assert psnr(reloaded, fp32) == pytest.approx(rows[scheme.name]["psnr_vs_fp32"], abs=1e-3), scheme.name
    assert readers.shipped_scheme(artifact) == config.quantize.shipped()
    assert readers.traced_size(artifact) == config.data.eval_size


def test_the_artifact_holds_the_calibration_crops_it_used(compared):
    """Export calibrates TFLite's int8 files on the saved crops instead of drawing them again."""
    config, artifact = compared
    saved = readers.calibration(artifact)
    photos, _ = load_images(config.data.image_set().train, config.data.max_side)
    drawn = calibration_crops(photos, config)
    assert len(saved) == config.quantize.calibration_images
    assert all(torch.equal(a, b) for a, b in zip(saved, drawn))


def test_quantization_sensitivity_scan_suggests_float_layers(cli, tiny_build):
    config, checkpoints, _ = tiny_build
    code, out, err = cli("quantize", config, "--checkpoints", checkpoints, "--sensitivity",
                         "--set", "quantize.min_psnr_vs_fp32=200")
    assert code == 0, err
    folder = Path(out.strip().splitlines()[-1].split(": ", 1)[1])
    report = json.loads((folder / "sensitivity.json").read_text())
    layers = [row["layer"] for row in report["rows"]]
    assert "head" in layers and len(layers) >= 8
    assert report["rows"] == sorted(report["rows"], key=lambda row: row["psnr_vs_fp32"])
    # an unreachable budget keeps adding float layers, most sensitive first
    assert report["mixed_precision"][1]["keep_float"] == [layers[0]]
    assert (folder / "sensitivity.png").read_bytes().startswith(b"\x89PNG")


def test_compare_flag_belongs_to_quantize_only(cli, tiny_build):
    config, checkpoints, _ = tiny_build
    code, _, err = cli("distill", config, "--checkpoints", checkpoints, "--compare")
    assert code == 2 and "No such option: --compare" in err  # typer refuses it: distill does not offer it
