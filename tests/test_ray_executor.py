"""Builds as tasks on a local Ray cluster with 2 CPUs: concurrent builds give the serial run's files,
a sweep's points train their shared teacher once, and a build whose worker is killed mid-distill
is retried by Ray and resumes from the distill checkpoint."""

from __future__ import annotations

import io
import json
import os
import signal
import threading
import time
from pathlib import Path

import pytest
import yaml

from stylectl.pipelines.artifacts import LOCK_PREFIX, MANIFEST, sha256_file
from stylectl.pipelines.config import RunConfig
from stylectl.pipelines.fanout import Build, run_builds
from stylectl.pipelines.progress import PlainReporter
from stylectl.pipelines.runner import plan_chain, plan_stage
from tests.conftest import TINY_CONFIG

ray = pytest.importorskip("ray")
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module", autouse=True)
def cluster():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def _tiny(**sections) -> dict:
    data = yaml.safe_load(yaml.safe_dump(TINY_CONFIG))
    for section, values in sections.items():
        data[section] = values if not isinstance(data.get(section), dict) else {**data[section], **values}
    return data


def _digests(checkpoints: Path) -> dict[str, str]:
    """build/stage/key -> the digest of the stage's outputs (training logs left out, as cache keys do)."""
    return {str(path.parent.relative_to(checkpoints)): json.loads(path.read_text())["digest"]
            for path in checkpoints.glob(f"*/*/*/{MANIFEST}")}


def _span(checkpoints: Path, build: str) -> tuple[float, float]:
    from datetime import datetime

    timings = [json.loads(path.read_text())["timing"] for path in (checkpoints / build).glob(f"*/*/{MANIFEST}")]
    starts = [datetime.fromisoformat(t["started_at"]).timestamp() for t in timings]
    return min(starts), max(start + t["seconds"] for start, t in zip(starts, timings))


def test_two_builds_run_at_once_and_give_the_serial_run_files(tmp_path):
    import torch

    config = RunConfig.model_validate(_tiny(style={"image": ["builtin:great_wave", "builtin:starry_night"]}))
    builds = [Build(build.name, build) for build in config.per_style()]
    plan = plan_chain(None, "prune", None)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # what Ray gives a task that asks for 1 CPU: float sums then add up alike
    try:
        serial = run_builds(builds, plan, tmp_path / "serial", PlainReporter(io.StringIO()))
    finally:
        torch.set_num_threads(threads)
    fanned = run_builds(builds, plan, tmp_path / "ray", PlainReporter(io.StringIO()), executor="ray")

    assert [result.ok for result in serial + fanned] == [True] * 4
    assert _digests(tmp_path / "ray") == _digests(tmp_path / "serial")
    assert len(_digests(tmp_path / "ray")) == 6
    (first_start, first_end), (second_start, second_end) = (_span(tmp_path / "ray", b.label) for b in builds)
    assert first_start < second_end and second_start < first_end  # the two builds overlapped in time


def test_sweep_points_train_their_shared_teacher_once(tmp_path):
    from stylectl.pipelines.studies.sweep import run_sweep

    config_path = tmp_path / "tiny.yaml"
    config_path.write_text(yaml.safe_dump(TINY_CONFIG))
    checkpoints = tmp_path / "ck"
    folder, results = run_sweep(config_path, [], "distill", "student.width=0.25,0.5", checkpoints,
                                PlainReporter(io.StringIO()), executor="ray")

    assert [result.ok for result in results] == [True, True]
    teacher_statuses = sorted(result.outcomes[0].status for result in results)
    assert teacher_statuses == ["cached", "ran"]
    assert len([path for path in (checkpoints / "tiny" / "train-teacher").iterdir() if path.is_dir()]) == 1
    assert len({result.outcomes[1].artifact.key for result in results}) == 2
    assert "| student.width |" in (folder / "sweep.md").read_text()


def test_a_worker_killed_mid_distill_is_retried_and_resumes(tmp_path):
    data = _tiny(student={"steps": 100, "trainer": {"accelerator": "cpu", "checkpoint_every_n_steps": 1}})
    config = RunConfig.model_validate(data)
    checkpoints = tmp_path / "ck"
    log = io.StringIO()
    results = []
    runner = threading.Thread(target=lambda: results.extend(
        run_builds([Build("tiny", config)], plan_stage("distill"), checkpoints, PlainReporter(log), executor="ray")))
    runner.start()
    distill = checkpoints / "tiny" / "distill"
    deadline = time.monotonic() + 240
    while not list(distill.glob(".resume-*/last.ckpt")):
        assert runner.is_alive() and time.monotonic() < deadline, "distill never saved a checkpoint"
        time.sleep(0.05)
    holder = next(distill.glob(f"{LOCK_PREFIX}*")).read_text().split()  # "<host> pid <pid>"
    os.kill(int(holder[-1]), signal.SIGKILL)
    runner.join(timeout=300)

    [result] = results
    assert result.ok, result.error
    assert result.attempts == 2
    assert "attempt 2 on" in log.getvalue() and "resuming from" in log.getvalue()
    distill_manifest = json.loads(next(distill.glob(f"*/{MANIFEST}")).read_text())
    for name, entry in distill_manifest["outputs"].items():
        assert sha256_file(next(distill.glob(f"*/{MANIFEST}")).parent / name) == entry["sha256"]
    assert not list(distill.glob(".tmp-*")) and not list(distill.glob(".resume-*"))
