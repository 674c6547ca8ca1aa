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
    {"name": "w8a16", "activation_bits": 16},
    {"name": "w4a16", "weight_bits": 4, "activation_bits": 16},
    {"name": "mixed", "activations_16bit": ["head", "up1"]},
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
    for name, row in rows.items():  # every scheme's ONNX file loads and runs in onnxruntime, 16-bit ones too
        assert row["files"]["onnx"]["latency_ms"] > 0, name
    assert rows["fp32"]["psnr_vs_fp32"] == float("inf") or rows["fp32"]["psnr_vs_fp32"] > 80
    assert rows["w4a8_bc"]["weight_bytes"] < rows["int8"]["weight_bytes"] < rows["fp16"]["weight_bytes"] \
        < rows["fp32"]["weight_bytes"]
    assert "bias correction" in rows["w4a8_bc"]["description"]
    assert artifact.metrics["ship"] == "w4a8_bc"


def test_each_scheme_file_runs_in_its_runtime_and_matches_its_simulation(compared):
    """The scheme matrix: every int scheme as QDQ ONNX at its own bits (uint16 activations, INT4
    weights), TFLite where a converter carries it (int8 by litert-torch, w8a16 by ai-edge-quantizer),
    each run by its runtime against its torch simulation, and QNN HTP's compile-and-simulate verdict."""
    import onnx

    _, artifact = compared
    rows = {row["name"]: row for row in artifact.metrics["schemes"]}
    for name in ("int8", "w4a8_bc", "w8a16", "w4a16", "mixed", "fp16", "ort_reference"):
        assert rows[name]["files"]["onnx"]["parity_psnr" if name != "ort_reference" else "bytes"] >= 35, name
    for name in ("int8", "w8a16"):
        assert rows[name]["files"]["tflite"]["parity_psnr"] >= 35, name
        assert rows[name]["files"]["tflite"]["latency_ms"] > 0, name
    assert "tflite" not in rows["w4a8_bc"]["files"] and "tflite" not in rows["mixed"]["files"]
    # Core ML's counterparts of the 16-bit-activation schemes: weights at their bits, fp16 activations,
    # scored from the weights the package stores
    for name, variant in (("w8a16", "int8_weights"), ("w4a16", "int4_weights")):
        entry = rows[name]["files"]["coreml"]
        assert entry["variant"] == variant and entry["bytes"] > 0, entry
        assert (artifact.folder / entry["file"]).is_dir()
    assert rows["w8a16"]["files"]["coreml"]["psnr_vs_fp32"] > rows["w4a16"]["files"]["coreml"]["psnr_vs_fp32"] > 20
    assert "coreml" not in rows["int8"]["files"]

    def zero_point_types(name: str) -> set[str]:
        graph = onnx.load(str(artifact.folder / rows[name]["files"]["onnx"]["file"])).graph
        initializers = {tensor.name: tensor for tensor in graph.initializer}
        return {onnx.TensorProto.DataType.Name(initializers[node.input[2]].data_type) for node in graph.node
                if node.op_type == "DequantizeLinear" and len(node.input) > 2 and node.input[2] in initializers}

    assert zero_point_types("int8") == {"INT8", "UINT8"}
    assert zero_point_types("w8a16") == {"INT8", "UINT16"}
    assert zero_point_types("w4a16") == {"INT4", "UINT16"}
    assert zero_point_types("mixed") == {"INT8", "UINT8", "UINT16"}
    for name in ("int8", "w8a16", "w4a16", "mixed"):
        verdict = rows[name]["qnn"]
        if verdict["status"] == "not run":
            pytest.skip(verdict["reason"])
        assert verdict["status"] == "compiled" and verdict["compute_nodes_cpu"] == 0, (name, verdict)
        assert verdict["psnr_vs_fp32"] > 20, (name, verdict)
    # in the simulation, 16-bit activations (all of them, or the widened layers') beat 8-bit ones
    assert rows["w8a16"]["psnr_vs_fp32"] > rows["mixed"]["psnr_vs_fp32"] > rows["int8"]["psnr_vs_fp32"]


def test_comparison_table_plot_and_reference_file_are_written(compared):
    _, artifact = compared
    table = (artifact.folder / "comparison.md").read_text()
    assert "ort_reference" in table and "ORT ms" in table and "QNN-sim PSNR vs fp32" in table
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
    assert report["mixed_16bit"][1]["activations_16bit"] == [layers[0]]
    assert "The budget is not met even with every layer with 16-bit activations." in (folder / "sensitivity.md").read_text()
    assert (folder / "sensitivity.png").read_bytes().startswith(b"\x89PNG")


def test_compare_flag_belongs_to_quantize_only(cli, tiny_build):
    config, checkpoints, _ = tiny_build
    code, _, err = cli("distill", config, "--checkpoints", checkpoints, "--compare")
    assert code == 2 and "No such option: --compare" in err  # typer refuses it: distill does not offer it
