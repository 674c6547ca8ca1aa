"""Every shipped config runs end to end, shrunk with --set (steps, sizes, widths), so a shipped
config can never fail where the quickstart passes (a config without an export section once did)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from stylectl.cli.config_commands import shipped_configs
from stylectl.pipelines.config.loading import load_config
from tests.conftest import STYLECTL

pytestmark = pytest.mark.slow
TINY = ["data.crop_size=32", "data.max_side=96", "data.eval_size=32", "style.size=64",
        "teacher.width=4", "teacher.res_blocks=1", "teacher.steps=2", "teacher.batch_size=2",
        "teacher.trainer.accelerator=cpu", "student.width=0.25", "student.blocks=1", "student.steps=2",
        "student.batch_size=2", "student.trainer.accelerator=cpu", "prune.finetune_steps=1", "prune.batch_size=2",
        "prune.round_to=4", "quantize.calibration_images=2", "evaluate.runs=2", "evaluate.warmup=1",
        # a 2-step model is far from its teacher: quality gates and the int8 parity bar are for real builds
        "evaluate.gates={}", "export.parity_min_psnr=20"]


@pytest.mark.parametrize("name", sorted(shipped_configs()))
def test_every_shipped_config_runs_end_to_end(name, tmp_path):
    extra = []
    if "coreml" in load_config(shipped_configs()[name]).export.formats:  # compress even a tiny model's small weights
        extra = ["export.formats.coreml.min_weight_elements=0"]
    overrides = [argument for value in [*TINY, *extra] for argument in ("--set", value)]
    finished = subprocess.run([STYLECTL, "run", str(shipped_configs()[name]), "--checkpoints", str(tmp_path),
                               "--json", "--plain", *overrides], capture_output=True, text=True, timeout=900)
    assert finished.returncode == 0, finished.stderr[-3000:]
    summary = json.loads(finished.stdout)
    builds = summary if isinstance(summary, list) else [summary]
    for build in builds:
        assert [stage["status"] for stage in build["stages"]] == ["ran"] * 6, build["build"]
        assert (Path(build["stages"][-1]["folder"]) / "report.html").is_file()
