"""train-teacher beyond the basic chain: validation grids, adversarial term, multi-style builds,
unreadable images, NaN guard, and resuming after Ctrl-C."""

from __future__ import annotations

import csv
import json
import math
import shutil
import signal
import subprocess
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
import yaml

from stylectl.pipelines.config import RunConfig
from stylectl.pipelines.data import resolve_content
from stylectl.pipelines.errors import StylectlError
from stylectl.pipelines.progress import PlainReporter
from stylectl.pipelines.runner import plan_stage, run_stages
from stylectl.pipelines.train.callbacks import FiniteLossGuard
from tests.conftest import STYLECTL, TINY_CONFIG

pytestmark = pytest.mark.slow


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
    assert math.isfinite(outcome.artifact.metrics["final_loss"])
    rows = list(csv.DictReader((outcome.artifact.folder / "logs" / "metrics.csv").read_text().splitlines()))
    logged = [float(row["train/discriminator"]) for row in rows if row.get("train/discriminator")]
    assert logged and all(math.isfinite(value) for value in logged)


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


def _checkpoint_step(pattern: Path, deadline: float, unlike: int | None = None) -> int:
    """The step in the resume checkpoint once there is one (and it differs from `unlike`); the
    process rewrites it every 2 steps, and a file caught mid-write is read again next poll."""
    while time.monotonic() < deadline:
        for path in pattern.parent.glob(pattern.name):
            try:
                step = torch.load(path / "last.ckpt", map_location="cpu", weights_only=True)["global_step"]
            except Exception:  # noqa: BLE001 - not there yet, or being written
                continue
            if step != unlike:
                return step
        time.sleep(0.05)
    raise AssertionError(f"no new checkpoint in {pattern}")


def _interrupt(process: subprocess.Popen, signal_number: int) -> str:
    process.send_signal(signal_number)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 128 + signal_number, err
    assert "run the same command with --resume" in err
    return err


def test_ctrl_c_leaves_a_checkpoint_that_resume_continues(tmp_path):
    """Ctrl-C, then --resume, then SIGTERM: each stop saves where it stood and exits non-zero, and
    the resumed run starts from the saved step, not from 0. Both runs stop on the test's signal,
    so nothing depends on how fast this machine trains."""
    data = yaml.safe_load(yaml.safe_dump(TINY_CONFIG))
    data["teacher"].update(steps=100000, trainer={"accelerator": "cpu", "checkpoint_every_n_steps": 2,
                                                 "val_every_n_steps": 0})
    config_path = tmp_path / "long.yaml"
    config_path.write_text(yaml.safe_dump(data))
    checkpoints = tmp_path / "ck"
    resume_dirs = checkpoints / "tiny" / "train-teacher" / ".resume-*"
    command = [STYLECTL, "train-teacher", str(config_path), "--checkpoints", str(checkpoints), "--plain"]
    deadline = time.monotonic() + 240

    first = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    while _checkpoint_step(resume_dirs, deadline) < 10:
        time.sleep(0.05)
    _interrupt(first, signal.SIGINT)
    stopped_at = _checkpoint_step(resume_dirs, deadline)
    assert not list(checkpoints.glob("tiny/train-teacher/*/manifest.json"))

    resumed = subprocess.Popen([*command, "--resume"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    first_saved = _checkpoint_step(resume_dirs, deadline, unlike=stopped_at)
    assert first_saved > stopped_at  # a restart from 0 would save step 2, 4, ... first
    err = _interrupt(resumed, signal.SIGTERM)
    assert "resuming from" in err
    assert _checkpoint_step(resume_dirs, deadline) >= first_saved
