"""The readers that find a build's files for stylize and the benchmarks: a stage folder given by path is
verified against its manifest, an evaluate folder leads to its export, and the export's kept files are
found by variant and format, never by a file name built outside the stage."""

from __future__ import annotations

import json

import pytest

from stylectl.pipelines import readers
from stylectl.pipelines.artifacts import MANIFEST_SCHEMA, Artifact, hash_outputs, outputs_digest
from stylectl.pipelines.errors import StylectlError


def _publish(folder, stage: str, **fields) -> dict:
    """A manifest as the runner writes it, so the folder verifies."""
    outputs = hash_outputs(folder)
    manifest = {"schema": MANIFEST_SCHEMA, "stage": stage, "key": folder.name, "outputs": outputs,
                "digest": outputs_digest(outputs), **fields}
    (folder / "manifest.json").write_text(json.dumps(manifest))
    return manifest


@pytest.fixture
def build(tmp_path):
    export = tmp_path / "b" / "export" / "k1"
    export.mkdir(parents=True)
    (export / "student_int8.tflite").write_bytes(b"int8")
    (export / "student_fp32.onnx").write_bytes(b"fp32")
    (export / "student_fp16.mlpackage" / "Data").mkdir(parents=True)  # Core ML's package is a folder
    (export / "student_fp16.mlpackage" / "Data" / "model.mlmodel").write_bytes(b"fp16")
    rows = [{"format": "coreml", "variant": "fp16", "file": "student_fp16.mlpackage", "options": {}, "status": "ok"},{"format": "onnx", "variant": "fp32", "file": "student_fp32.onnx", "options": {}, "status": "ok"},
            {"format": "onnx", "variant": "int8", "file": "student_int8.onnx", "options": {}, "status": "failed"},
            {"format": "tflite", "variant": "int8", "file": "student_int8.tflite", "options": {}, "status": "ok"}]
    digest = _publish(export, "export", metrics={"rows": rows})["digest"]
    evaluate = tmp_path / "b" / "evaluate" / "k2"
    evaluate.mkdir(parents=True)
    (evaluate / readers.EVALUATED_TEACHER_FILE).write_bytes(b"teacher")
    _publish(evaluate, "evaluate", inputs={"export": {"key": "k1", "digest": digest}}, metrics={})
    return export, evaluate


def test_a_stage_folder_is_read_through_its_manifest(build):
    export, evaluate = build
    artifact = readers.stage_output(evaluate)
    assert (artifact.stage, artifact.key) == ("evaluate", "k2")
    assert readers.evaluated_teacher_onnx(artifact) == evaluate / "teacher_fp32.onnx"
    upstream = readers.stage_input(artifact, "export")
    assert (upstream.stage, upstream.folder) == ("export", export)
    assert readers.exported_files(upstream) == {("fp16", "coreml"): export / "student_fp16.mlpackage",
                                                ("fp32", "onnx"): export / "student_fp32.onnx",
                                                ("int8", "tflite"): export / "student_int8.tflite"}
    assert readers.exported_file(upstream, "int8", "tflite") == export / "student_int8.tflite"
    with pytest.raises(StylectlError, match="no int8 onnx file was exported"):  # its row failed
        readers.exported_file(upstream, "int8", "onnx")


def test_changed_or_missing_files_are_refused(build, tmp_path):
    export, evaluate = build
    with pytest.raises(StylectlError, match="no readable manifest.json"):
        readers.stage_output(tmp_path)
    (export / "student_fp32.onnx").write_bytes(b"changed")
    with pytest.raises(StylectlError, match="do not match"):
        readers.stage_output(export)
    with pytest.raises(StylectlError, match="its export input .* no longer the one"):
        readers.stage_input(readers.stage_output(evaluate), "export")


def test_the_quantize_stages_comparison_plot_is_optional(tmp_path):
    quantize = tmp_path / "b" / "quantize" / "k3"
    quantize.mkdir(parents=True)
    (quantize / readers.COMPARISON_TABLE).write_text("| scheme |\n")
    artifact = Artifact("quantize", "k3", quantize, _publish(quantize, "quantize"))
    assert readers.comparison_table(artifact) == "| scheme |\n"
    assert readers.comparison_plot(artifact) is None


def test_the_file_names_are_the_ones_the_stages_write():
    """The evaluate stage (a file the readers cannot import: stages sit above the library) names its
    teacher file itself; the two names must stay one."""
    from stylectl.pipelines.stages import evaluate

    assert evaluate.TEACHER_ONNX == readers.EVALUATED_TEACHER_FILE
