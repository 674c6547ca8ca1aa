"""NPU pre-flight: rules fire on what they describe, and `export --check/--strict` report them."""

from __future__ import annotations

import pytest
import yaml

from stylectl.pipelines.config import SchemeConfig
from stylectl.pipelines.export.preflight import RULES, TARGETS, preflight
from stylectl.pipelines.models.student import StudentNet, student_params
from stylectl.pipelines.models.teacher import TransformerNet

INT8 = SchemeConfig(name="int8")


def test_the_classic_teacher_is_flagged_and_the_student_is_clean():
    teacher = preflight(TransformerNet(width=4, res_blocks=1), INT8, [])
    rules = {(finding["rule"], finding["target"]) for finding in teacher["findings"]}
    assert {("instance_norm", "nnapi"), ("instance_norm", "full_int8"), ("mirror_padding", "litert_npu")} <= rules
    student = preflight(StudentNet(**student_params(0.5, 1, 1.5)), INT8, [])
    assert student["clean"] and student["findings_per_target"] == {target: 0 for target in TARGETS}


def test_file_and_scheme_evidence():
    rows = [{"file": "student_int8.onnx", "format": "onnx", "variant": "int8", "float_compute_ops": ["Add", "Sigmoid"],
             "input_shape": [1, 3, 32, 32]},
            {"file": "student_fp32.onnx", "format": "onnx", "variant": "fp32",
             "input_shape": [1, 3, "4*height", "4*width"]}]
    scheme = SchemeConfig(name="mixed", activation_bits=16, keep_float=["head"])
    result = preflight(StudentNet(**student_params(0.5, 1, 1.5)), scheme, rows)
    where = {(finding["rule"], finding["where"]) for finding in result["findings"]}
    assert ("float_ops_in_int8_file", "student_int8.onnx: Add, Sigmoid") in where
    assert ("dynamic_input_size", "student_fp32.onnx") in where
    assert ("float_layers_in_scheme", "scheme 'mixed' keeps head in float") in where
    assert ("int16_activations", "scheme 'mixed'") in where


def test_every_rule_names_its_targets_and_reason():
    for rule in RULES:
        assert rule.targets and set(rule.targets) <= set(TARGETS) and len(rule.why) > 40 and rule.confirm
        assert rule.scope in ("model", "int8", "file")


def _vendor(status: str) -> dict:
    return {"qnn_htp": {"target": "qnn_htp", "tool": "QNN", "soc": "SM8750", "status": status, "reason": "",
                        "compute_nodes_qnn": 10, "compute_nodes_cpu": 0 if status == "compiled" else 3,
                        "psnr_vs_cpu": 70.0}}


def test_every_file_gets_a_verdict_per_target_from_the_vendor_or_the_rules():
    rows = [{"file": "a_int8.onnx", "format": "onnx", "variant": "int8", "float_compute_ops": [],
             "input_shape": [1, 3, 32, 32], "vendor": _vendor("compiled")},
            {"file": "b_fp32.onnx", "format": "onnx", "variant": "fp32", "input_shape": [1, 3, "h", "w"],
             "vendor": _vendor("partial")},
            {"file": "c_int8.tflite", "format": "tflite", "variant": "int8", "float_compute_ops": ["ADD"],
             "input_shape": [1, 3, 32, 32]}]
    result = preflight(StudentNet(**student_params(0.5, 1, 1.5)), INT8, rows)
    verdicts = {(v["file"], v["target"]): v for v in result["files"]}
    assert len(verdicts) == len(rows) * len(TARGETS)  # every file, every target
    assert verdicts[("a_int8.onnx", "qnn_htp")]["by"] == "vendor" and verdicts[("a_int8.onnx", "qnn_htp")]["ok"]
    assert verdicts[("b_fp32.onnx", "qnn_htp")]["ok"] is False
    assert result["vendor_failures"] == [f"b_fp32.onnx on qnn_htp: {verdicts[('b_fp32.onnx', 'qnn_htp')]['text']}"]
    assert not result["clean"]
    tflite = verdicts[("c_int8.tflite", "litert_npu")]
    assert tflite["by"] == "rules" and not tflite["ok"] and "float_ops_in_int8_file" in tflite["text"]
    assert verdicts[("c_int8.tflite", "qnn_htp")]["by"] == "n/a"  # the ONNX check does not read TFLite files
    flagged = {f["target"] for f in result["findings"] if f["rule"] == "float_ops_in_int8_file"}
    assert flagged == {"nnapi", "litert_npu", "full_int8"}  # not qnn_htp, which does not load that file
    assert verdicts[("a_int8.onnx", "full_int8")]["ok"] and not verdicts[("c_int8.tflite", "full_int8")]["ok"]
    assert verdicts[("b_fp32.onnx", "full_int8")]["by"] == "n/a"


@pytest.mark.slow
def test_check_prints_verdicts_and_strict_exits_3(cli, tiny_build, tmp_path):
    config, checkpoints, _ = tiny_build
    code, out, err = cli("export", config, "--checkpoints", checkpoints, "--check")
    assert code == 0, err
    assert "| Qualcomm Hexagon NPU (QNN HTP) |" in out
    assert "student_int8.onnx | qnn_htp | vendor | QNN HTP compiler for SM8750 (onnxruntime-qnn" in out
    # A dynamically sized file: the rules flag it, and the vendor compiler leaves most of it on the CPU.
    dynamic = yaml.safe_load(config.read_text())
    dynamic["export"]["formats"] = {"onnx": {"variants": ["fp32"], "dynamic_size": True}}
    dynamic_config = tmp_path / "tiny.yaml"
    dynamic_config.write_text(yaml.safe_dump(dynamic))
    code, out, err = cli("export", dynamic_config, "--checkpoints", checkpoints, "--check")
    assert code == 0, err
    assert "dynamic_input_size" in out and "| student_fp32.onnx | qnn_htp | vendor |" in out and ": partial, " in out
    code, _, err = cli("export", dynamic_config, "--checkpoints", checkpoints, "--strict")
    assert code == 3 and "NPU pre-flight finding(s); not fully compiled: student_fp32.onnx on qnn_htp" in err
    code, _, err = cli("export", config, "--checkpoints", checkpoints, "--strict")
    assert code == 0, err  # every file of the default build compiles and no rule fires
    code, _, err = cli("prune", config, "--checkpoints", checkpoints, "--check")
    assert code == 2 and "No such option: --check" in err  # prune does not offer it
