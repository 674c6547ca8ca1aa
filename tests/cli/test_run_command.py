"""`stylectl run` and stage commands through the real entry point: JSON, cache, gates."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow


def test_rerun_is_all_cached_and_json_is_clean(cli, tiny_build):
    config, checkpoints, _ = tiny_build
    code, out, err = cli("run", config, "--checkpoints", checkpoints, "--json")
    assert code == 0, err
    summary = json.loads(out)
    assert [stage["status"] for stage in summary["stages"]] == ["cached"] * 6
    assert "cached, skipped" in err


def test_failed_gate_exits_3_and_names_the_gate(cli, tiny_build):
    config, checkpoints, _ = tiny_build
    code, _, err = cli("evaluate", config, "--checkpoints", checkpoints,
                       "--set", "evaluate.gates.min_psnr_vs_teacher=99")
    assert code == 3
    assert "gate failed: student fp32 (onnx): psnr_vs_teacher" in err
    assert "min_psnr_vs_teacher=99" in err


def test_stage_command_with_bare_force_redoes_only_that_stage(cli, tiny_build):
    config, checkpoints, _ = tiny_build
    code, out, err = cli("quantize", config, "--checkpoints", checkpoints, "--force", "--json")
    assert code == 0, err
    statuses = {stage["stage"]: stage["status"] for stage in json.loads(out)["stages"]}
    assert statuses == {"train-teacher": "cached", "distill": "cached", "prune": "cached", "quantize": "ran"}


def test_a_failed_export_file_is_a_row_the_others_stay_and_the_run_exits_1(cli, tiny_build):
    config, checkpoints, _ = tiny_build
    # no fp16 or int8 file is 200 dB from its torch source; the fp32 ones keep their own bar
    code, out, err = cli("run", config, "--checkpoints", checkpoints, "--set", "export.parity_min_psnr=200", "--json")
    assert code == 1
    assert "export failed: student_int8.onnx: parity" in err
    assert "exported file(s) failed; the others are in" in err
    stages = {stage["stage"]: stage for stage in json.loads(out)["stages"]}
    assert stages["evaluate"]["status"] == "ran"
    export_folder = Path(stages["export"]["folder"])
    manifest = json.loads((export_folder / "manifest.json").read_text())
    statuses = {row["file"]: row["status"] for row in manifest["metrics"]["rows"]}
    assert statuses["student_fp32.onnx"] == "ok" and (export_folder / "student_fp32.onnx").is_file()
    assert statuses["student_int8.onnx"] == "failed" and not (export_folder / "student_int8.onnx").exists()
    report = (Path(stages["evaluate"]["folder"]) / "report.md").read_text()
    assert "student int8 (onnx): export failed: parity" in report

    again, _, err = cli("run", config, "--checkpoints", checkpoints, "--set", "export.parity_min_psnr=200")
    assert again == 1 and "export failed: student_int8.onnx" in err  # cached, still a failure
