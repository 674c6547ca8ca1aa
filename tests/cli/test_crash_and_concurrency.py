"""kill -9 a build mid-training and mid-export, then re-run; two runs of one build at once.

After any crash, every folder that has a manifest must hold exactly the files it lists (sha256),
and a re-run must reuse those folders and finish. Processes are stopped on a state they leave
on disk (a training checkpoint, a stage's temp folder), not after a fixed time.
"""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from stylectl.pipelines.artifacts import MANIFEST, sha256_file
from tests.conftest import STYLECTL, TINY_CONFIG

pytestmark = pytest.mark.slow


def _config(tmp_path: Path) -> Path:
    data = yaml.safe_load(yaml.safe_dump(TINY_CONFIG))
    # distill long enough to be caught training; a checkpoint every step tells us it is
    data["student"].update(steps=300, trainer={"accelerator": "cpu", "checkpoint_every_n_steps": 1})
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def _wait_for(pattern: str, root: Path, process: subprocess.Popen, seconds: float = 240) -> None:
    deadline = time.monotonic() + seconds
    while not list(root.glob(pattern)):
        assert process.poll() is None, f"finished before {pattern} appeared"
        assert time.monotonic() < deadline, f"{pattern} never appeared"
        time.sleep(0.01)


def _assert_manifests_verify(build: Path) -> set[str]:
    """Every published folder's files match its manifest; returns the stages published."""
    published = set()
    for manifest_path in build.glob(f"*/*/{MANIFEST}"):
        manifest = json.loads(manifest_path.read_text())
        for name, entry in manifest["outputs"].items():
            assert sha256_file(manifest_path.parent / name) == entry["sha256"], (manifest_path, name)
        published.add(manifest_path.parent.parent.name)
    return published


def _run(command: list[str]) -> dict[str, str]:
    finished = subprocess.run([*command, "--json"], capture_output=True, text=True, timeout=600)
    assert finished.returncode == 0, finished.stderr
    return {stage["stage"]: stage["status"] for stage in json.loads(finished.stdout)["stages"]}


def test_kill_9_during_training_and_during_export_then_rerun(tmp_path):
    checkpoints = tmp_path / "ck"
    build = checkpoints / "tiny"
    command = [STYLECTL, "run", str(_config(tmp_path)), "--checkpoints", str(checkpoints), "--plain"]

    training = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _wait_for("distill/.resume-*/last.ckpt", build, training)
    training.send_signal(signal.SIGKILL)
    training.wait()
    assert _assert_manifests_verify(build) == {"train-teacher"}

    exporting = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _wait_for("export/.tmp-*/student_fp32.onnx", build, exporting)
    exporting.send_signal(signal.SIGKILL)
    exporting.wait()
    assert _assert_manifests_verify(build) == {"train-teacher", "distill", "prune", "quantize"}

    statuses = _run(command)
    assert statuses == {"train-teacher": "cached", "distill": "cached", "prune": "cached", "quantize": "cached",
                        "export": "ran", "evaluate": "ran"}
    assert _assert_manifests_verify(build) == set(statuses)
    assert not list(build.glob("*/.tmp-*"))  # what the killed runs left is cleaned up


def test_two_runs_of_one_build_one_refuses_at_once(tmp_path):
    checkpoints = tmp_path / "ck"
    command = [STYLECTL, "run", str(_config(tmp_path)), "--checkpoints", str(checkpoints), "--plain"]
    first = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    _wait_for("distill/.resume-*/last.ckpt", checkpoints / "tiny", first)
    second = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert second.returncode == 1
    assert second.stderr.strip().splitlines()[-1].startswith("error: build 'tiny' is being written by another")
    _, err = first.communicate(timeout=600)
    assert first.returncode == 0, err
    assert _assert_manifests_verify(checkpoints / "tiny") == {"train-teacher", "distill", "prune", "quantize",
                                                            "export", "evaluate"}
