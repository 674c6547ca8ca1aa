"""Cache keys, atomic writes, manifests that verify, and the build lock."""

from __future__ import annotations

import multiprocessing

import pytest

from stylectl.pipelines import artifacts
from stylectl.pipelines.errors import StylectlError


def test_key_depends_on_every_input():
    base = artifacts.stage_key("distill", {"student": {"width": 1}}, {"train-teacher": "a"}, {"data": "d"})
    assert base == artifacts.stage_key("distill", {"student": {"width": 1}}, {"train-teacher": "a"}, {"data": "d"})
    assert base != artifacts.stage_key("prune", {"student": {"width": 1}}, {"train-teacher": "a"}, {"data": "d"})
    assert base != artifacts.stage_key("distill", {"student": {"width": 2}}, {"train-teacher": "a"}, {"data": "d"})
    assert base != artifacts.stage_key("distill", {"student": {"width": 1}}, {"train-teacher": "b"}, {"data": "d"})
    assert base != artifacts.stage_key("distill", {"student": {"width": 1}}, {"train-teacher": "a"}, {"data": "e"})


def test_a_stage_revision_changes_only_that_stages_key(monkeypatch):
    export_before = artifacts.stage_key("export", {"export": {}}, {"prune": "a"}, {})
    distill_before = artifacts.stage_key("distill", {"student": {}}, {"train-teacher": "a"}, {})
    monkeypatch.setitem(artifacts.STAGE_REVISIONS, "export", artifacts.STAGE_REVISIONS["export"] + 1)
    assert artifacts.stage_key("export", {"export": {}}, {"prune": "a"}, {}) != export_before
    assert artifacts.stage_key("distill", {"student": {}}, {"train-teacher": "a"}, {}) == distill_before


def test_write_atomic_replaces_whole_file_and_leaves_no_temp(tmp_path):
    target = tmp_path / "sub" / "file.json"
    artifacts.write_json_atomic(target, {"a": 1})
    artifacts.write_json_atomic(target, {"a": 2})
    assert target.read_text().strip().endswith("}")
    assert '"a": 2' in target.read_text()
    assert [p.name for p in target.parent.iterdir()] == ["file.json"]


def _published(tmp_path, key="k1"):
    folder = tmp_path / "stage" / key
    folder.mkdir(parents=True)
    (folder / "model.bin").write_bytes(b"weights")
    outputs = artifacts.hash_outputs(folder)
    artifacts.write_json_atomic(folder / artifacts.MANIFEST, {
        "schema": artifacts.MANIFEST_SCHEMA, "key": key, "outputs": outputs,
        "digest": artifacts.outputs_digest(outputs), "metrics": {}})
    return folder


def test_manifest_verifies_until_an_output_changes(tmp_path):
    folder = _published(tmp_path)
    assert artifacts.load_verified(folder, "stage", "k1") is not None
    assert artifacts.load_verified(folder, "stage", "other-key") is None
    (folder / "model.bin").write_bytes(b"tampered")
    assert artifacts.load_verified(folder, "stage", "k1") is None


def test_folder_without_manifest_is_not_an_artifact(tmp_path):
    folder = tmp_path / "stage" / "k1"
    folder.mkdir(parents=True)
    (folder / "model.bin").write_bytes(b"half")
    assert artifacts.load_verified(folder, "stage", "k1") is None


def _hold_lock(folder, ready, release):
    with artifacts.build_lock(folder):
        ready.set()
        release.wait(10)


def test_second_writer_of_a_build_is_refused(tmp_path):
    context = multiprocessing.get_context("fork")
    ready, release = context.Event(), context.Event()
    holder = context.Process(target=_hold_lock, args=(tmp_path / "build", ready, release))
    holder.start()
    try:
        assert ready.wait(10)
        with pytest.raises(StylectlError, match="being written by another stylectl run"):
            with artifacts.build_lock(tmp_path / "build"):
                pass
    finally:
        release.set()
        holder.join()
    with artifacts.build_lock(tmp_path / "build"):
        pass


def test_lock_removes_temp_folders_of_crashed_runs(tmp_path):
    stale = tmp_path / "build" / "distill" / ".tmp-abc"
    stale.mkdir(parents=True)
    with artifacts.build_lock(tmp_path / "build"):
        assert not stale.exists()


def test_a_fan_outs_runs_share_a_build_and_a_run_on_its_own_is_refused_beside_them(tmp_path):
    stale = tmp_path / "build" / "distill" / ".tmp-abc"
    stale.mkdir(parents=True)
    with artifacts.build_lock(tmp_path / "build", shared=True), artifacts.build_lock(tmp_path / "build", shared=True):
        assert stale.exists()  # another shared holder may be writing it
        with pytest.raises(StylectlError, match="being written by another stylectl run"):
            with artifacts.build_lock(tmp_path / "build"):
                pass
