"""The chain end to end on a tiny build: artifacts, manifests, cache hits and partial re-runs."""

from __future__ import annotations

import json

import pytest
import yaml

from stylectl.pipelines.artifacts import MANIFEST, sha256_file
from stylectl.pipelines.config import RunConfig
from stylectl.pipelines.progress import PlainReporter
from stylectl.pipelines.runner import CONVERTER_PACKAGES, _versions, plan_chain, plan_stage, run_stages
from stylectl.pipelines.stages import STAGE_NAMES
from tests.conftest import TINY_CONFIG

pytestmark = pytest.mark.slow


def _config(**changes) -> RunConfig:
    data = yaml.safe_load(yaml.safe_dump(TINY_CONFIG))
    for dotted, value in changes.items():
        section, key = dotted.split("__")
        data[section][key] = value
    return RunConfig.model_validate(data)


@pytest.fixture
def first_run(tiny_build):
    return tiny_build.checkpoints, tiny_build.outcomes


def _statuses(outcomes) -> dict[str, str]:
    return {outcome.stage: outcome.status for outcome in outcomes}


def test_first_run_runs_every_stage_and_writes_verified_manifests(first_run):
    checkpoints, outcomes = first_run
    assert [o.stage for o in outcomes] == list(STAGE_NAMES)
    assert set(_statuses(outcomes).values()) == {"ran"}
    for outcome in outcomes:
        manifest = json.loads((outcome.artifact.folder / MANIFEST).read_text())
        assert manifest["stage"] == outcome.stage
        assert outcome.artifact.folder.parent.parent == checkpoints / "tiny"
        assert manifest["versions"]["torch"].startswith("2.13")
        installed = {package for package in CONVERTER_PACKAGES if package in _versions()}
        assert {package: manifest["versions"].get(package) for package in installed} == \
            {package: _versions()[package] for package in installed}
        for name, entry in manifest["outputs"].items():
            assert sha256_file(outcome.artifact.folder / name) == entry["sha256"]
    assert not list((checkpoints / "tiny").glob("*/.tmp-*"))


def test_every_artifact_exists(first_run):
    _, outcomes = first_run
    folders = {o.stage: o.artifact.folder for o in outcomes}
    for stage, name in [("train-teacher", "teacher.safetensors"), ("distill", "student.safetensors"),
                        ("prune", "student.safetensors"), ("quantize", "scheme_int8.safetensors"),
                        ("export", "student_fp32.onnx"), ("export", "student_int8.onnx"),
                        ("evaluate", "report.json"), ("evaluate", "report.md")]:
        assert (folders[stage] / name).stat().st_size > 0, (stage, name)


def test_exported_onnx_runs_in_onnxruntime_and_matches_torch(first_run):
    import onnxruntime as ort
    import torch

    from stylectl.pipelines.models.spec import load_model

    _, outcomes = first_run
    folders = {o.stage: o.artifact.folder for o in outcomes}
    session = ort.InferenceSession(str(folders["export"] / "student_fp32.onnx"), providers=["CPUExecutionProvider"])
    image = torch.rand(1, 3, 32, 32)
    output = session.run(None, {session.get_inputs()[0].name: image.numpy()})[0]
    expected = load_model(folders["prune"] / "student.safetensors")(image).detach().numpy()
    assert output.shape == (1, 3, 32, 32)
    assert abs(output - expected).max() < 1e-4
    fp32_row = next(row for row in outcomes[4].artifact.metrics["rows"] if row["variant"] == "fp32")
    assert "BatchNormalization" not in fp32_row["ops"]  # folded into the convs
    int8 = ort.InferenceSession(str(folders["export"] / "student_int8.onnx"), providers=["CPUExecutionProvider"])
    assert int8.run(None, {int8.get_inputs()[0].name: image.numpy()})[0].shape == (1, 3, 32, 32)


def test_report_has_rows_for_every_artifact(first_run):
    _, outcomes = first_run
    report = json.loads((outcomes[-1].artifact.folder / "report.json").read_text())
    assert report["schema_version"] == 1
    artifacts = [row["artifact"] for row in report["rows"]]
    assert artifacts[:4] == ["teacher", "student", "pruned student", "int8 student (sim)"]
    assert {"teacher (onnx)", "student fp32 (onnx)", "student int8 (onnx)"} <= set(artifacts)
    teacher_row = report["rows"][0]
    assert teacher_row["psnr_vs_teacher"] == float("inf") or teacher_row["psnr_vs_teacher"] > 60
    assert teacher_row["gram_vs_teacher"] == 0  # the teacher's own texture
    assert all(row["gram_vs_teacher"] > 0 for row in report["rows"][1:4])
    for row in report["rows"][4:]:
        assert row["latency_ms"] > 0 and row["size_mb"] > 0
    assert "| student int8 (onnx) |" in (outcomes[-1].artifact.folder / "report.md").read_text()


def test_report_has_flicker_of_every_torch_model_beside_the_teachers(first_run):
    _, outcomes = first_run
    folder = outcomes[-1].artifact.folder
    temporal = json.loads((folder / "report.json").read_text())["temporal"]
    assert len(temporal["clips"]) == 3 and temporal["frames"] == 8 and temporal["size"] == 32  # 3 held-out photos
    rows = {row["artifact"]: row for row in temporal["rows"]}
    assert list(rows) == ["input clip", "teacher", "student", "pruned student", "int8 student (sim)"]
    assert rows["teacher"]["vs_teacher"] == 1
    for row in rows.values():
        assert set(row["per_clip"]) == set(temporal["clips"])
        assert 0 < row["warping_error"] < 1
        assert row["vs_teacher"] == pytest.approx(row["warping_error"] / rows["teacher"]["warping_error"])
    assert outcomes[-1].artifact.metrics["warping_error"]["student"] == rows["student"]["warping_error"]
    markdown = (folder / "report.md").read_text()
    assert "| artifact | warping error | x teacher |" in markdown and "| input clip |" in markdown


def test_second_run_skips_everything(first_run):
    checkpoints, _ = first_run
    outcomes = run_stages(_config(), plan_chain(None, None, None), checkpoints, PlainReporter())
    assert set(_statuses(outcomes).values()) == {"cached"}


def test_changing_one_section_reruns_that_stage_and_downstream_only(first_run):
    checkpoints, _ = first_run
    outcomes = run_stages(_config(prune__finetune_steps=2), plan_chain(None, None, None), checkpoints,
                          PlainReporter())
    assert _statuses(outcomes) == {"train-teacher": "cached", "distill": "cached", "prune": "ran",
                                   "quantize": "ran", "export": "ran", "evaluate": "ran"}
    outcomes = run_stages(_config(evaluate__runs=3), plan_chain(None, None, None), checkpoints, PlainReporter())
    assert [s for s, status in _statuses(outcomes).items() if status == "ran"] == ["evaluate"]


def test_single_stage_builds_only_its_dependencies_and_force_redoes_it(first_run):
    checkpoints, _ = first_run
    outcomes = run_stages(_config(), plan_stage("distill", {"distill"}), checkpoints, PlainReporter())
    assert _statuses(outcomes) == {"train-teacher": "cached", "distill": "ran"}


def test_a_corrupted_output_is_not_taken_from_the_cache(first_run):
    checkpoints, outcomes = first_run
    quantize_folder = next(o.artifact.folder for o in outcomes if o.stage == "quantize")
    state = quantize_folder / "scheme_int8.safetensors"
    state.write_bytes(state.read_bytes()[:-1] + b"\0")
    outcomes = run_stages(_config(), plan_chain(None, "quantize", None), checkpoints, PlainReporter())
    assert _statuses(outcomes)["quantize"] == "ran"


def test_from_requires_cached_upstream(tmp_path):
    from stylectl.pipelines.errors import UserInputError

    with pytest.raises(UserInputError, match="no cached output"):
        run_stages(_config(), plan_chain("distill", "distill", None), tmp_path, PlainReporter())
