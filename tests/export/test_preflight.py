"""NPU pre-flight: rules fire on what they describe, and `export --check/--strict` report them."""

from __future__ import annotations

import pytest

from stylectl.pipelines.config import SchemeConfig
from stylectl.pipelines.export.preflight import RULES, TARGETS, preflight
from stylectl.pipelines.models.student import StudentNet, student_params
from stylectl.pipelines.models.teacher import TransformerNet

INT8 = SchemeConfig(name="int8")


def test_the_classic_teacher_is_flagged_and_the_student_is_clean():
    teacher = preflight(TransformerNet(width=4, res_blocks=1), INT8, [])
    rules = {(finding["rule"], finding["target"]) for finding in teacher["findings"]}
    assert {("instance_norm", "nnapi_htp"), ("instance_norm", "full_int8"), ("mirror_padding", "nnapi_htp")} <= rules
    student = preflight(StudentNet(**student_params(0.5, 1, 1.5)), INT8, [])
    assert student["clean"] and student["findings_per_target"] == {target: 0 for target in TARGETS}


def test_file_and_scheme_evidence():
    rows = [{"file": "student_int8.onnx", "variant": "int8", "float_compute_ops": ["Add", "Sigmoid"],
             "input_shape": [1, 3, 32, 32]},
            {"file": "student_fp32.onnx", "variant": "fp32", "input_shape": [1, 3, "4*height", "4*width"]}]
    scheme = SchemeConfig(name="mixed", activation_bits=16, keep_float=["head"])
    result = preflight(StudentNet(**student_params(0.5, 1, 1.5)), scheme, rows)
    where = {(finding["rule"], finding["where"]) for finding in result["findings"]}
    assert ("float_ops_in_int8_file", "student_int8.onnx: Add, Sigmoid") in where
    assert ("dynamic_input_size", "student_fp32.onnx") in where
    assert ("float_layers_in_scheme", "scheme 'mixed' keeps head in float") in where
    assert ("int16_activations", "scheme 'mixed'") in where


def test_every_rule_names_its_targets_and_reason():
    for rule in RULES:
        assert rule.targets and set(rule.targets) <= set(TARGETS) and len(rule.why) > 40


@pytest.mark.slow
def test_check_prints_findings_and_strict_exits_3(cli, tiny_build):
    config, checkpoints, _ = tiny_build
    code, out, err = cli("export", config, "--checkpoints", checkpoints, "--check")
    assert code == 0, err
    assert "| Android NNAPI / Qualcomm HTP |" in out and "float_ops_in_int8_file" in out
    code, _, err = cli("export", config, "--checkpoints", checkpoints, "--strict")
    assert code == 3 and "NPU pre-flight finding(s)" in err
    code, _, err = cli("prune", config, "--checkpoints", checkpoints, "--check")
    assert code == 2 and "No such option: --check" in err  # prune does not offer it
