"""export on the tiny build: every format and variant written, run in its runtime where it
can run here, compared with its torch source; Core ML (packages and Core ML-delegated .pte)
validated structurally."""

from __future__ import annotations

import numpy as np
import pytest
import yaml

from stylectl.pipelines.config import RunConfig
from stylectl.pipelines.export import tflite
from stylectl.pipelines.export.formats import FORMATS, resolve_formats
from stylectl.pipelines.progress import PlainReporter
from stylectl.pipelines.runner import plan_stage, run_stages
from tests.conftest import TINY_CONFIG

pytestmark = pytest.mark.slow

FORMAT_OPTIONS = {"onnx": {"dynamic_size": True}, "tflite": {"nhwc": True},
                  "coreml": {"variants": ["fp16", "int8_weights", "int4_weights", "palettized"],
                             "min_weight_elements": 0, "palettize_bits": 2, "minimum_deployment_target": "iOS18",
                             "int4_block_size": 4}, "pte": {}}  # int4 weights need iOS18; the tiny convs, blocks of 4
NOT_RUN_HERE = ("student_fp16.mlpackage", "student_int8_weights.mlpackage", "student_int4_weights.mlpackage",
                "student_palettized.mlpackage", "student_coreml.pte")


def _config(formats, **export) -> RunConfig:
    data = yaml.safe_load(yaml.safe_dump(TINY_CONFIG))
    data["export"].update(formats=formats, **export)
    return RunConfig.model_validate(data)


@pytest.fixture(scope="module")
def exported(tiny_build):
    outcome = run_stages(_config(FORMAT_OPTIONS), plan_stage("export"), tiny_build.checkpoints, PlainReporter())[-1]
    return outcome.artifact, {row["file"]: row for row in outcome.artifact.metrics["rows"]}


def test_one_ok_row_per_format_and_variant(exported):
    artifact, rows = exported
    expected = {f"student_{variant}{FORMATS[name].suffix}" for name in FORMAT_OPTIONS for variant in FORMATS[name].variants}
    assert set(rows) == expected
    for name, row in rows.items():
        assert row["status"] == "ok", row
        assert row["bytes"] > 0 and (artifact.folder / name).exists()


def test_runnable_files_match_their_torch_source(exported):
    _, rows = exported
    for name, row in rows.items():
        if name in NOT_RUN_HERE:
            assert row["parity"] == "not run (needs macOS)" and "parity_psnr" not in row
        else:
            floor = 60 if row["variant"] == "fp32" else 25
            assert row["parity_psnr"] >= floor, row


def _onnxruntime(path, images: np.ndarray) -> np.ndarray:
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    return np.concatenate([session.run(None, {name: image[None]})[0] for image in images])


def _litert(path, images: np.ndarray, nhwc: bool) -> np.ndarray:
    """LiteRT's interpreter driven here, not through the exporter: layout and int8 I/O by the file's own details."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(path))
    interpreter.allocate_tensors()
    entry, exit_ = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
    outputs = []
    for image in images:
        array = image[None].transpose(0, 2, 3, 1) if nhwc else image[None]
        if entry["dtype"] != np.float32:
            scale, zero_point = entry["quantization"]
            limits = np.iinfo(entry["dtype"])
            array = np.clip(np.round(array / scale + zero_point), limits.min, limits.max).astype(entry["dtype"])
        interpreter.set_tensor(entry["index"], array)
        interpreter.invoke()
        output = interpreter.get_tensor(exit_["index"])
        if exit_["dtype"] != np.float32:
            scale, zero_point = exit_["quantization"]
            output = (output.astype(np.float32) - zero_point) * scale
        outputs.append(output.transpose(0, 3, 1, 2) if nhwc else output)
    return np.concatenate(outputs)


def _executorch(path, images: np.ndarray) -> np.ndarray:
    import torch
    from executorch.runtime import Runtime

    method = Runtime.get().load_program(str(path)).load_method("forward")
    return np.concatenate([method.execute([torch.from_numpy(image[None])])[0].numpy() for image in images])


def _psnr(output: np.ndarray, reference: np.ndarray) -> float:
    return float(10 * np.log10(1.0 / np.mean((np.clip(output, 0, 1) - np.clip(reference, 0, 1)) ** 2)))


def test_every_runnable_file_matches_the_fp32_student_in_its_own_runtime(tiny_build, exported):
    """Independent of the stage's own parity check: the files run here through the runtimes'
    APIs and are compared with the fp32 student itself (not with each file's torch source)."""
    from stylectl.pipelines.data import eval_batch, resolve_content
    from stylectl.pipelines.measure.metrics import predict
    from stylectl.pipelines.models.spec import load_model

    artifact, rows = exported
    config = _config(FORMAT_OPTIONS)
    quantized = next(o.artifact for o in tiny_build.outcomes if o.stage == "quantize")
    images = eval_batch(resolve_content(config.data.content, config.data.holdout_fraction).heldout,
                        config.data.eval_size)
    reference = predict(load_model(quantized.folder / "model.safetensors"), images).numpy()
    floors = {"fp32": 60, "fp16": 40, "int8": 30}
    for name in rows:
        path, variant = artifact.folder / name, rows[name]["variant"]
        if name.endswith(".onnx"):
            output = _onnxruntime(path, images.numpy())
        elif name.endswith(".tflite"):
            output = _litert(path, images.numpy(), nhwc=FORMAT_OPTIONS["tflite"]["nhwc"])
        elif name.endswith(".pte") and name not in NOT_RUN_HERE:
            output = _executorch(path, images.numpy())
        else:
            continue  # Core ML runs on macOS only
        assert output.shape == reference.shape, name
        assert _psnr(output, reference) >= floors[variant], (name, _psnr(output, reference))


def test_onnx_dynamic_size_and_tflite_layouts(exported):
    _, rows = exported
    assert all(isinstance(dim, str) for dim in rows["student_fp32.onnx"]["input_shape"][2:])
    int8 = rows["student_int8.tflite"]
    assert int8["float_compute_ops"] == [] and int8["input_dtype"] == "int8"  # full-integer
    assert "CONV_2D" in rows["student_fp32.tflite"]["float_compute_ops"]
    assert int8["runtime"] == "ai-edge-litert"


def test_int8_onnx_is_every_op_int8_and_qnn_htp_compiles_all_of_it(exported):
    """Every op between input and output quantized (the global context, the residual adds, the
    sigmoid, depth-to-space), so Qualcomm's compiler takes the whole graph; a dynamically sized
    float file it runs mostly on the CPU."""
    _, rows = exported
    int8 = rows["student_int8.onnx"]
    assert int8["float_compute_ops"] == [] and {"Mul", "Add", "Sigmoid", "DepthToSpace"} <= set(int8["ops"])
    qnn = int8["vendor"]["qnn_htp"]
    assert qnn["status"] == "compiled" and qnn["compute_nodes_cpu"] == 0 and qnn["compute_nodes_qnn"] > 20
    assert qnn["psnr_vs_cpu"] >= 35
    dynamic = rows["student_fp32.onnx"]["vendor"]["qnn_htp"]
    assert dynamic["status"] == "partial" and dynamic["compute_nodes_cpu"] > 0 and "Conv" in dynamic["reason"]
    assert "vendor" not in rows["student_int8.tflite"]


def test_tflite_float_io_option_keeps_the_compute_integer(tiny_build, tmp_path):
    config = _config({"tflite": {"variants": ["int8"], "int8_io": False}})
    outcome = run_stages(config, plan_stage("export"), tiny_build.checkpoints, PlainReporter())[-1]
    row = outcome.artifact.metrics["rows"][0]
    assert row["input_dtype"] == "float32" and row["output_dtype"] == "float32"
    assert row["float_compute_ops"] == [] and "QUANTIZE" in row["ops"]


def test_coreml_weights_are_stored_as_the_variant_says(exported):
    _, rows = exported  # iOS18: int8 and int4 weights alike are constexpr_blockwise_shift_scale ops
    int8, int4 = rows["student_int8_weights.mlpackage"], rows["student_int4_weights.mlpackage"]
    assert set(int8["quantized_weights"]) == {"int8"} and set(int4["quantized_weights"]) == {"int4"}
    assert int4["ops"]["constexpr_blockwise_shift_scale"] == int4["quantized_weights"]["int4"]
    assert "constexpr_lut_to_dense" in rows["student_palettized.mlpackage"]["ops"]
    assert "conv" in rows["student_fp16.mlpackage"]["ops"]
    assert rows["student_fp16.mlpackage"]["quantized_weights"] == {}


def test_coreml_int4_weights_need_ios18_and_the_other_variants_are_still_written(tiny_build):
    config = _config({"coreml": {"variants": ["int8_weights", "int4_weights"], "min_weight_elements": 0}})
    export = run_stages(config, plan_stage("export"), tiny_build.checkpoints, PlainReporter())[-1].artifact
    rows = {row["variant"]: row for row in export.metrics["rows"]}
    assert rows["int4_weights"]["status"] == "failed"
    assert not (export.folder / "student_int4_weights.mlpackage").exists()
    assert rows["int4_weights"]["reason"] == (
        "UserInputError: export.formats.coreml int4_weights: needs minimum_deployment_target iOS18 or later "
        "(int4 weights are iOS18/macOS15 constexpr_blockwise_shift_scale ops); it is iOS17")
    int8 = rows["int8_weights"]  # iOS17: int8 weights in constexpr_affine_dequantize
    assert int8["status"] == "ok" and (export.folder / "student_int8_weights.mlpackage").is_dir()
    assert "constexpr_affine_dequantize" in int8["ops"] and set(int8["quantized_weights"]) == {"int8"}
    assert export.metrics["failures"] == [f"student_int4_weights.mlpackage: {rows['int4_weights']['reason']}"]


def test_a_failing_variant_is_reported_and_the_others_still_run(tiny_build):
    config = _config({"onnx": {"variants": ["fp32", "fp16"]}, "tflite": {"variants": ["fp32"]}},
                     parity_min_psnr_fp32=1000.0)
    export = run_stages(config, plan_stage("export"), tiny_build.checkpoints, PlainReporter())[-1].artifact
    rows = {row["file"]: row for row in export.metrics["rows"]}
    for failed in ("student_fp32.onnx", "student_fp32.tflite"):
        assert rows[failed]["status"] == "failed" and "parity" in rows[failed]["reason"]
        assert not (export.folder / failed).exists()  # never shipped
    assert rows["student_fp16.onnx"]["status"] == "ok" and (export.folder / "student_fp16.onnx").is_file()
    assert [failure.split(":")[0] for failure in export.metrics["failures"]] == ["student_fp32.onnx",
                                                                                "student_fp32.tflite"]


@pytest.mark.parametrize("formats, fragment", [
    (["keras"], "unknown format 'keras'"),
    ({"onnx": {"opset": 9}}, "onnx: unknown option ['opset']"),
    ({"tflite": {"variants": ["int4"]}}, "tflite.variants"),
    ({"coreml": {"minimum_deployment_target": "iOS9"}}, "coreml.minimum_deployment_target: 'iOS9' is not valid"),
    ({"pte": {"variants": ["fp16"]}}, "pte.variants"),
])
def test_format_options_are_checked_against_the_table(formats, fragment):
    with pytest.raises(ValueError, match=None) as caught:
        resolve_formats(formats)
    assert fragment in str(caught.value)


def test_int8_tflite_needs_an_int8_scheme(tiny_build):
    data = yaml.safe_load(yaml.safe_dump(TINY_CONFIG))
    data["quantize"]["schemes"] = [{"name": "w4", "weight_bits": 4}]
    data["export"]["formats"] = {"tflite": {"variants": ["int8"]}}
    export = run_stages(RunConfig.model_validate(data), plan_stage("export"), tiny_build.checkpoints,
                        PlainReporter())[-1].artifact
    [row] = export.metrics["rows"]
    assert row["status"] == "failed" and "full-integer TFLite needs symmetric int8 weights" in row["reason"]


@pytest.mark.parametrize("scheme, narrow_type", [({"name": "w8a16", "activation_bits": 16}, "UINT16"),
                                                 ({"name": "w4", "weight_bits": 4}, "INT4")])
def test_the_onnx_integer_file_carries_the_shipped_scheme_at_its_own_bits(tiny_build, scheme, narrow_type):
    """A shipped w8a16 or 4-bit scheme reaches the ONNX file as uint16 activations or INT4 weights (opset 21),
    which onnxruntime runs like its simulation and QNN HTP compiles whole."""
    import onnx

    data = yaml.safe_load(yaml.safe_dump(TINY_CONFIG))
    data["quantize"]["schemes"] = [scheme]
    data["export"]["formats"] = {"onnx": {"variants": ["int8"]}}
    export = run_stages(RunConfig.model_validate(data), plan_stage("export"), tiny_build.checkpoints,
                        PlainReporter())[-1].artifact
    [row] = export.metrics["rows"]
    assert row["status"] == "ok" and row["parity_psnr"] >= 35, row
    model = onnx.load(str(export.folder / row["file"]))
    assert model.opset_import[0].version == 21
    assert narrow_type in {onnx.TensorProto.DataType.Name(tensor.data_type) for tensor in model.graph.initializer}
    verdict = row["vendor"]["qnn_htp"]
    assert verdict["status"] in ("compiled", "not run"), verdict


def test_int8_pte_refuses_a_scheme_xnnpack_cannot_run_as_defined(tiny_build):
    data = yaml.safe_load(yaml.safe_dump(TINY_CONFIG))
    data["quantize"]["schemes"] = [{"name": "w4", "weight_bits": 4}]  # the same quantize build as the test above
    data["export"]["formats"] = {"pte": {"variants": ["int8", "fp32"]}}
    export = run_stages(RunConfig.model_validate(data), plan_stage("export"), tiny_build.checkpoints,
                        PlainReporter())[-1].artifact
    rows = {row["variant"]: row for row in export.metrics["rows"]}
    assert rows["int8"]["status"] == "failed" and not (export.folder / "student_int8.pte").exists()
    assert rows["int8"]["reason"] == ("UserInputError: export.formats.pte int8: XNNPACK cannot run quantize.ship "
                                      "scheme 'w4': weight_bits: 4 (int8 conv kernels only)")
    assert rows["fp32"]["status"] == "ok"


def test_tflite_io_conversion_round_trips():
    import numpy as np

    detail = {"dtype": np.int8, "quantization": (1 / 255, -128)}
    image = np.linspace(0, 1, 11, dtype=np.float32)
    restored = tflite._from_tensor_type(tflite._to_tensor_type(image, detail), detail)
    assert np.abs(restored - image).max() <= 0.5 / 255 + 1e-6


def test_pte_programs_are_delegated_as_their_variant_says(exported):
    _, rows = exported
    for variant in ("fp32", "int8"):
        row = rows[f"student_{variant}.pte"]
        assert row["delegates"] == ["XnnpackBackend"] and row["input_shape"] == [1, 3, 32, 32], row
        # XNNPACK has no nearest resize: the upsample is the one op left to ExecuTorch's own kernels, in float
        assert row["portable_ops"] == ["aten::upsample_nearest2d"], row
    assert {"xnnpack Conv2d", "xnnpack DepthwiseConv2d"} <= set(rows["student_fp32.pte"]["float_compute_ops"])
    # int8: every conv (the head too, min-max calibrated), pooling, multiply and add run in int8; the
    # sigmoid and the depth-to-space after it (reshapes, transposes) stay float, as the quantizer leaves them
    assert rows["student_int8.pte"]["float_compute_ops"] == ["aten::upsample_nearest2d", "xnnpack Sigmoid",
                                                             "xnnpack StaticReshape", "xnnpack StaticTranspose"]
    assert rows["student_int8.pte"]["parity_psnr"] >= 40  # against its XNNPACKQuantizer simulation
    coreml = rows["student_coreml.pte"]
    assert coreml["ops"] == {"CoreMLBackend": 1} and coreml["portable_ops"] == [], coreml
    assert "conv" in coreml["coreml_ops"]


def test_every_runtime_is_timed_from_a_numpy_input_to_a_numpy_output_it_does_not_overwrite(exported, monkeypatch):
    """The one latency boundary: each format's `time` hands measure/latency.py a call that takes a
    NumPy array and returns a NumPy array; a second call must not overwrite the first's output
    (an output still inside the runtime would be a view, not copied out)."""
    import torch

    from stylectl.pipelines.measure import latency

    artifact, rows = exported
    timed = set()
    for name, row in rows.items():
        if name in NOT_RUN_HERE:
            continue
        module, captured = FORMATS[row["format"]].load(), {}

        def capture(infer, array, warmup, runs):
            captured.update(infer=infer, array=array)
            return {"median_ms": 1.0, "p90_ms": 1.0, "runs": runs}

        monkeypatch.setattr(latency, "time_inference", capture)
        if hasattr(module, "time_inference"):
            monkeypatch.setattr(module, "time_inference", capture)
        module.time(artifact.folder / name, torch.rand(3, 32, 32), 1, 0, 1, row["options"])
        first = captured["infer"](captured["array"])
        kept = first.copy()
        second = captured["infer"](np.zeros_like(captured["array"]))
        assert isinstance(captured["array"], np.ndarray) and isinstance(first, np.ndarray), name
        assert not np.array_equal(second, kept), name  # the inputs differ, so must the outputs
        np.testing.assert_array_equal(first, kept, err_msg=name)
        timed.add(row["format"])
    assert timed == {"onnx", "tflite", "pte"}


def test_every_runtime_prepares_its_files_once_for_alternating_rounds(exported):
    """evaluate loads each file once (`prepare`) and times them all together in rounds: each prepared
    file is the same boundary (NumPy in, NumPy out) and names its runtime where `time` did."""
    import torch

    from stylectl.pipelines.measure.latency import Timed, time_rounds

    artifact, rows = exported
    prepared = {}
    for name, row in rows.items():
        if name in NOT_RUN_HERE:
            continue
        module = FORMATS[row["format"]].load()
        prepared[name] = module.prepare(artifact.folder / name, torch.rand(3, 32, 32), 1, row["options"])
        assert isinstance(prepared[name], Timed) and isinstance(prepared[name].array, np.ndarray), name
        assert (prepared[name].runtime is not None) == (row["format"] in ("tflite", "pte")), name
    timings = time_rounds({name: timed.call for name, timed in prepared.items()}, warmup=0, runs=1, rounds=2)
    assert all(timing["rounds"] == 2 and timing["median_ms"] > 0 for timing in timings.values())
    assert {rows[name]["format"] for name in timings} == {"onnx", "tflite", "pte"}
