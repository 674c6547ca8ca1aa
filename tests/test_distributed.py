"""DDP: the same YAML trains on 2 CPU processes (gloo) and the build gets one checkpoint."""

from __future__ import annotations

import json
import subprocess

import pytest
import yaml

from stylectl.pipelines.artifacts import LOCK_PREFIX
from tests.conftest import STYLECTL, TINY_CONFIG

pytestmark = pytest.mark.slow


def test_teacher_trains_with_ddp_on_two_cpu_processes(tmp_path):
    data = yaml.safe_load(yaml.safe_dump(TINY_CONFIG))
    data["teacher"]["steps"] = 4
    data["teacher"]["trainer"] = {"accelerator": "cpu", "devices": 2, "strategy": "ddp", "log_every_n_steps": 1}
    config = tmp_path / "ddp.yaml"
    config.write_text(yaml.safe_dump(data))
    checkpoints = tmp_path / "ck"
    result = subprocess.run([STYLECTL, "train-teacher", str(config), "--checkpoints", str(checkpoints), "--json"],
                            capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    [stage] = json.loads(result.stdout)["stages"]
    assert stage["metrics"]["world_size"] == 2
    teachers = list(checkpoints.glob("tiny/train-teacher/*/teacher.safetensors"))
    assert len(teachers) == 1
    # no temp or resume folder left; the key's lock file stays (removing it would race a waiting builder)
    leftovers = [p.name for p in (checkpoints / "tiny" / "train-teacher").iterdir()
                 if p.name.startswith(".") and not p.name.startswith(LOCK_PREFIX)]
    assert leftovers == []
