"""--model: a stage folder's manifest rows and a build config resolve to the right exported file."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from PIL import Image

from stylectl.pipelines.artifacts import MANIFEST_SCHEMA, hash_outputs, outputs_digest
from stylectl.pipelines.errors import UserInputError
from stylectl.pipelines.stylize.model import from_stage_folder
from tests.stylize.conftest import random_rgb


def _row(file: str, variant: str, status: str = "ok") -> dict:
    return {"format": "onnx", "variant": variant, "file": file, "options": {"dynamic_size": False}, "status": status}


def _publish(folder, stage: str, **fields) -> dict:
    """A manifest as the runner writes it (schema, key, every file's sha256), so the folder verifies."""
    outputs = hash_outputs(folder)
    manifest = {"schema": MANIFEST_SCHEMA, "stage": stage, "key": folder.name, "outputs": outputs,
                "digest": outputs_digest(outputs), **fields}
    (folder / "manifest.json").write_text(json.dumps(manifest))
    return manifest


@pytest.fixture
def build(tmp_path, invert_files):
    """A fake build: an export folder with two files and a failed row, and an evaluate folder of it."""
    export = tmp_path / "b" / "export" / "k1"
    export.mkdir(parents=True)
    for name in ("student_fp32.onnx", "student_int8.onnx"):
        shutil.copy(invert_files["fixed"], export / name)
    rows = [_row("student_fp32.onnx", "fp32"), _row("student_fp16.onnx", "fp16", "failed"),
            _row("student_int8.onnx", "int8")]
    digest = _publish(export, "export", metrics={"rows": rows})["digest"]
    evaluate = tmp_path / "b" / "evaluate" / "k2"
    evaluate.mkdir(parents=True)
    _publish(evaluate, "evaluate", inputs={"export": {"key": "k1", "digest": digest}})
    return export, evaluate


def test_stage_folders_pick_the_variant(build):
    export, evaluate = build
    assert from_stage_folder(export, None, None, 1).path == export / "student_int8.onnx"  # the default
    assert from_stage_folder(evaluate, "fp32", "onnx", 1).path == export / "student_fp32.onnx"
    with pytest.raises(UserInputError, match="no runnable fp16.*exported: fp32 onnx, int8 onnx"):
        from_stage_folder(export, "fp16", None, 1)
    with pytest.raises(UserInputError, match="no runnable int8 tflite"):
        from_stage_folder(export, "int8", "tflite", 1)


def test_stage_folders_are_verified_against_their_manifest(build, tmp_path):
    """A folder is read as the runner reads a cached stage: a changed file, a folder without a manifest,
    or an evaluate folder whose export is gone is refused in one line."""
    export, evaluate = build
    (export / "student_int8.onnx").write_bytes(b"not the exported file")
    with pytest.raises(UserInputError, match="^--model .*: not a finished stage folder .*do not match") as error:
        from_stage_folder(export, None, None, 1)
    assert "\n" not in str(error.value)
    with pytest.raises(UserInputError, match="its export input .* is missing or no longer"):
        from_stage_folder(evaluate, None, None, 1)
    shutil.rmtree(export)
    with pytest.raises(UserInputError, match="its export input"):
        from_stage_folder(evaluate, None, None, 1)
    with pytest.raises(UserInputError, match=r"not a finished stage folder \(no readable manifest.json\)"):
        from_stage_folder(tmp_path, None, None, 1)


@pytest.mark.slow
def test_config_runs_its_builds_int8_file(cli, tmp_path, tiny_build):
    """The real chain's int8 ONNX student, found from the config by its cache keys."""
    Image.fromarray(random_rgb(40, 50)).save(tmp_path / "p.png")
    code, out, err = cli("stylize", tmp_path / "p.png", "--model", tiny_build.config_path, "-o", tmp_path / "out",
                         "--checkpoints", tiny_build.checkpoints, "--json")
    assert code == 0, err
    export = next(outcome.artifact for outcome in tiny_build.outcomes if outcome.stage == "export")
    assert json.loads(out)["model"]["file"] == str(export.folder / "student_int8.onnx")
    output = np.asarray(Image.open(tmp_path / "out" / "p.png"))
    assert output.shape == (40, 50, 3) and output.std() > 1  # a picture, not a blank


def test_config_without_a_build_is_a_clear_error(cli, tmp_path, tiny_config_path):
    Image.fromarray(random_rgb(8, 8)).save(tmp_path / "p.png")
    code, _, err = cli("stylize", tmp_path / "p.png", "--model", tiny_config_path, "-o", tmp_path / "out",
                       "--checkpoints", tmp_path / "empty")
    assert code == 2 and "no finished export" in err and "Traceback" not in err
