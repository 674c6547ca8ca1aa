"""Quality gates: each checked against what was measured; a gate with nothing to measure fails."""

from __future__ import annotations

import pytest

from stylectl.pipelines.config import GatesConfig
from stylectl.pipelines.report.cells import gate_worst
from stylectl.pipelines.report.gates import check_gates, verdict

CORE_ML = {"artifact": "student fp16 (coreml)", "size_mb": 0.2}  # off macOS: a size, no latency or quality
ONNX = {"artifact": "student int8 (onnx)", "size_mb": 0.4, "latency_ms": 3.0, "psnr_vs_teacher": 21.0,
        "ssim_vs_teacher": 0.7}
EXPORT = {"rows": [{"file": "student_int8.onnx", "parity_max_abs": 0.01}], "preflight": {"findings": []}}


def _result(gates: dict, gate: str) -> dict:
    return next(row for row in gates["results"] if row["gate"] == gate)


def test_each_gate_reports_its_worst_value_and_status():
    gates = check_gates(GatesConfig(max_latency_ms=5, min_ssim_vs_teacher=0.8, max_size_mb=1, max_parity_error=0.1),
                        [CORE_ML, ONNX], EXPORT)
    assert not gates["passed"]
    assert gates["failures"] == ["student int8 (onnx): ssim_vs_teacher 0.7 violates min_ssim_vs_teacher=0.8"]
    assert _result(gates, "min_ssim_vs_teacher")["status"] == "failed"
    size = _result(gates, "max_size_mb")
    assert (size["status"], size["worst"], size["measured"]) == ("passed", 0.4, 2)
    assert gate_worst(size) == "0.4 MB (student int8 (onnx))"
    assert _result(gates, "max_parity_error")["worst_artifact"] == "student_int8.onnx"


def test_a_gate_nothing_could_measure_fails_unless_optional():
    gates = check_gates(GatesConfig(max_latency_ms=5), [CORE_ML], EXPORT)
    assert not gates["passed"]
    assert _result(gates, "max_latency_ms")["status"] == "not measured"
    assert "max_latency_ms=5.0: not measured" in gates["failures"][0]

    allowed = check_gates(GatesConfig(max_latency_ms=5, optional=["max_latency_ms"]), [CORE_ML], EXPORT)
    assert allowed["passed"]
    assert _result(allowed, "max_latency_ms")["status"] == "not measured (optional)"


def test_optional_names_must_be_gates():
    with pytest.raises(ValueError, match=r"unknown gate\(s\) \['max_latenzy_ms'\]"):
        GatesConfig(optional=["max_latenzy_ms"])


def test_preflight_gate_fails_on_rule_findings_and_on_files_a_vendor_compiler_did_not_compile():
    clean = check_gates(GatesConfig(preflight_clean=True), [ONNX], EXPORT)
    assert clean["passed"] and _result(clean, "preflight_clean")["status"] == "passed"
    partial = {**EXPORT, "preflight": {"findings": [], "vendor_failures": ["student_fp32.onnx on qnn_htp: partial"]}}
    gates = check_gates(GatesConfig(preflight_clean=True), [ONNX], partial)
    assert not gates["passed"] and gates["failures"] == ["NPU compile check: student_fp32.onnx on qnn_htp: partial"]
    assert _result(gates, "preflight_clean")["worst"] == 1


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
def test_a_non_finite_metric_fails_its_gate(value):
    broken = {**ONNX, "artifact": "student fp16 (onnx)", "psnr_vs_teacher": value, "latency_ms": value}
    gates = check_gates(GatesConfig(min_psnr_vs_teacher=20, max_latency_ms=5), [ONNX, broken], EXPORT)
    assert not gates["passed"] and gates["status"] == "failed"
    for gate in ("min_psnr_vs_teacher", "max_latency_ms"):
        result = _result(gates, gate)
        assert result["status"] == "failed" and result["worst_artifact"] == "student fp16 (onnx)"
    assert all("(not a finite number)" in failure and "student fp16 (onnx)" in failure for failure in gates["failures"])


def test_a_nan_parity_figure_fails_the_parity_gate():
    nan_parity = {**EXPORT, "rows": [*EXPORT["rows"], {"file": "student_fp16.onnx", "parity_max_abs": float("nan")}]}
    gates = check_gates(GatesConfig(max_parity_error=0.1), [ONNX], nan_parity)
    assert not gates["passed"]
    assert gates["failures"] == ["student_fp16.onnx: parity_max_abs nan violates max_parity_error=0.1 "
                                 "(not a finite number)"]


def test_no_gates_configured_says_so_and_does_not_fail():
    gates = check_gates(GatesConfig(), [ONNX], EXPORT)
    assert (gates["status"], gates["passed"], gates["failures"], gates["results"]) == ("none", True, [], [])
    assert verdict(gates) == "no gates configured"
    assert verdict(check_gates(GatesConfig(max_size_mb=1), [ONNX], EXPORT)) == "passed"
    assert verdict(check_gates(GatesConfig(max_size_mb=0.1), [ONNX], EXPORT)) == "FAILED"
