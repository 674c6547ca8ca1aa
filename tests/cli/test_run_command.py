"""`stylectl run` and stage commands through the real entry point: JSON, cache, gates."""

from __future__ import annotations

import json

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
