"""train-teacher beyond the basic chain: validation grids, adversarial term, multi-style builds,
unreadable images, NaN guard, and resuming after Ctrl-C."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
import yaml

from stylectl.pipelines.callbacks import FiniteLossGuard
from stylectl.pipelines.config import RunConfig
from stylectl.pipelines.data import resolve_content
from stylectl.pipelines.errors import StylectlError
from stylectl.pipelines.progress import PlainReporter
from stylectl.pipelines.runner import plan_stage, run_stages
from tests.conftest import TINY_CONFIG

pytestmark = pytest.mark.slow
STYLECTL = str(Path(sys.executable).parent / "stylectl")


def _config(**sections) -> RunConfig:
    data = yaml.safe_load(yaml.safe_dump(TINY_CONFIG))
    for section, values in sections.items():
        data[section].update(values)
    return RunConfig.model_validate(data)


def _train(config: RunConfig, checkpoints: Path):
    return run_stages(config, plan_stage("train-teacher"), checkpoints, PlainReporter())


def test_validation_grid_and_logs_are_written(tiny_build):
    folder = tiny_build.outcomes[0].artifact.folder
    assert (folder / "val" / "step_000002.png").stat().st_size > 0
    header = (folder / "logs" / "metrics.csv").read_text().splitlines()[0]
    assert header.startswith(("epoch", "step", "train", "val")) and "lr-Adam" in header
    assert list((folder / "logs" / "tensorboard").glob("events.out.tfevents.*"))
    metrics = tiny_build.outcomes[0].artifact.metrics
    assert metrics["params"] > 0 and metrics["macs"] > 0 and metrics["images_per_second"] > 0
    assert set(metrics["heldout_before"]) == {"style_distance", "content_distance"}


def test_adversarial_term_trains_and_is_logged(tmp_path):
    config = _config(teacher={**TINY_CONFIG["teacher"], "adversarial": {"enabled": True, "width": 8, "layers": 2}})
    [outcome] = _train(config, tmp_path)
    header = (outcome.artifact.folder / "logs" / "metrics.csv").read_text().splitlines()[0]
    assert "train/adversarial" in header and "train/discriminator" in header
    assert outcome.artifact.metrics["final_loss"] == outcome.artifact.metrics["final_loss"]  # finite, not NaN


def test_a_style_list_builds_one_teacher_per_style(cli, tmp_path):
    data = yaml.safe_load(yaml.safe_dump(TINY_CONFIG))
    data["style"]["image"] = ["builtin:great_wave", "builtin:starry_night"]
    path = tmp_path / "multi.yaml"
    path.write_text(yaml.safe_dump(data))
    code, out, err = cli("train-teacher", path, "--checkpoints", tmp_path / "ck", "--json")
    assert code == 0, err
    builds = json.loads(out)
    assert [build["build"] for build in builds] == ["tiny-great_wave", "tiny-starry_night"]
    folders = [build["stages"][0]["folder"] for build in builds]
    assert folders[0] != folders[1]
    assert all((Path(folder) / "teacher.safetensors").exists() for folder in folders)


def test_unreadable_training_images_are_skipped_and_counted(tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    for source in resolve_content("builtin:photos", 0.2).train[:4]:
        shutil.copy(source, photos / source.name)
    truncated = (photos / "rocket.jpg").read_bytes()[:300]
    for attempt in range(20):  # the held-out split hashes names; pick one that lands in training
        broken = photos / f"broken{attempt}.jpg"
        broken.write_bytes(truncated)
        if broken in resolve_content(str(photos), 0.2).train:
            break
        broken.unlink()
    config = _config(data={**TINY_CONFIG["data"], "content": str(photos)})
    [outcome] = _train(config, tmp_path / "ck")
    assert outcome.artifact.metrics["skipped_images"] == 1
    assert any(broken.name in warning for warning in outcome.artifact.manifest["warnings"])


def test_nan_loss_stops_with_a_clear_message(tmp_path):
    guard = FiniteLossGuard("train-teacher", tmp_path)
    trainer = SimpleNamespace(global_step=7)
    guard.on_train_batch_end(trainer, None, {"loss": torch.tensor(1.0)}, None, 0)
    with pytest.raises(StylectlError, match="loss became nan at step 7.*no checkpoint was saved yet"):
        guard.on_train_batch_end(trainer, None, {"loss": torch.tensor(float("nan"))}, None, 0)
    (tmp_path / "last.ckpt").write_bytes(b"x")
    with pytest.raises(StylectlError, match="last good checkpoint is .*last.ckpt"):
        guard.on_train_batch_end(trainer, None, {"loss": torch.tensor(float("inf"))}, None, 0)


def test_ctrl_c_leaves_a_checkpoint_that_resume_continues(tmp_path):
    data = yaml.safe_load(yaml.safe_dump(TINY_CONFIG))
    data["teacher"].update(steps=1000, trainer={"accelerator": "cpu", "checkpoint_every_n_steps": 2,
                                               "val_every_n_steps": 0})
    config_path = tmp_path / "long.yaml"
    config_path.write_text(yaml.safe_dump(data))
    checkpoints = tmp_path / "ck"
    command = [STYLECTL, "train-teacher", str(config_path), "--checkpoints", str(checkpoints), "--plain"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not list(checkpoints.glob("tiny/train-teacher/.resume-*/last.ckpt")) and time.monotonic() < deadline:
        time.sleep(0.2)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=60)
    assert process.returncode != 0
    assert "run the same command with --resume" in err
    assert list(checkpoints.glob("tiny/train-teacher/.resume-*/last.ckpt"))
    assert not list(checkpoints.glob("tiny/train-teacher/*/manifest.json"))

    resumed = subprocess.run([*command, "--resume"], capture_output=True, text=True, timeout=300,
                             env={**os.environ, "PYTHONUNBUFFERED": "1"})
    assert resumed.returncode == 0, resumed.stderr
    assert "resuming from" in resumed.stderr
    assert list(checkpoints.glob("tiny/train-teacher/*/teacher.safetensors"))
    assert not list(checkpoints.glob("tiny/train-teacher/.resume-*"))
