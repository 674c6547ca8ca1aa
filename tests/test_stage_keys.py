"""Cache keys cover what each stage reads: a changed value or file re-runs exactly the stages that read it.

Upstream outputs are held fixed (the same digest for every input artifact), so a key here
changes only through the stage's own config values and files; in a real build a re-run stage's
new outputs then re-run everything downstream through their digests.
"""

from __future__ import annotations

from pathlib import Path

import torch
import yaml

from stylectl.pipelines.artifacts import Artifact
from stylectl.pipelines.config import RunConfig
from stylectl.pipelines.runner import _fingerprints, _stage_key, plan_chain
from stylectl.pipelines.stages import STAGES
from tests.conftest import TINY_CONFIG

FIXED_INPUT = Artifact("upstream", "key", Path("."), {"digest": "0" * 64})


def _config(change=None) -> RunConfig:
    data = yaml.safe_load(yaml.safe_dump(TINY_CONFIG))
    if change:
        change(data)
    return RunConfig.model_validate(data)


def _keys(config: RunConfig) -> dict[str, str]:
    fingerprints = _fingerprints(config, plan_chain(None, None, None))
    return {stage.name: _stage_key(config, stage, {need: FIXED_INPUT for need in stage.needs}, fingerprints)[0]
            for stage in STAGES}


def _changed(before: dict[str, str], after: dict[str, str]) -> set[str]:
    return {name for name in before if before[name] != after[name]}


def test_the_shipped_scheme_is_in_the_quantize_key_and_reaches_export_through_its_artifact():
    """Export and evaluate read the shipped scheme from the quantize artifact (readers.shipped_scheme),
    whose digest is in their keys; their own config views refuse quantize.* (tests/test_config_view.py)."""
    def ship_other(data):
        data["quantize"]["schemes"] = [{"name": "int8"}, {"name": "other", "calibration": "minmax"}]
        data["quantize"]["ship"] = "other"

    def two_schemes(data):
        data["quantize"]["schemes"] = [{"name": "int8"}, {"name": "other", "calibration": "minmax"}]

    assert _changed(_keys(_config(two_schemes)), _keys(_config(ship_other))) == {"quantize"}


def test_the_opset_is_in_the_keys_of_the_stages_that_write_onnx():
    """quantize (scheme comparison, ORT reference), export, and evaluate (the teacher's baseline file)."""
    def opset_19(data):
        data.setdefault("export", {})["opset"] = 19

    changed = _changed(_keys(_config()), _keys(_config(opset_19)))
    assert changed == {"quantize", "export", "evaluate"}


def test_replaced_vgg_weights_at_the_same_path_retrain_the_teacher(tmp_path):
    weights = tmp_path / "vgg.pth"

    def use_weights(data):
        data["teacher"]["vgg_weights"] = str(weights)

    torch.save({"w": torch.zeros(1)}, weights)
    before = _keys(_config(use_weights))
    torch.save({"w": torch.ones(1)}, weights)
    assert _changed(before, _keys(_config(use_weights))) == {"train-teacher"}


def test_a_replaced_onnx_teacher_at_the_same_path_re_runs_train_teacher(tmp_path):
    """Its bytes are hashed (the `teacher_onnx` fingerprint), not its path; the later stages follow
    through the teacher artifact's digest."""
    from stylectl.pipelines.models.teacher import TransformerNet
    from stylectl.pipelines.models.to_onnx import export_onnx

    path = tmp_path / "teacher.onnx"

    def use_onnx(data):
        data["teacher"]["onnx"] = {"path": str(path)}

    keys = []
    for seed in (0, 1):
        torch.manual_seed(seed)
        export_onnx(TransformerNet(width=4, res_blocks=1).eval(), 32, 18, path, dynamic_size=True)
        keys.append(_keys(_config(use_onnx)))
    assert _changed(*keys) == {"train-teacher"}


def test_temporal_weight_keys_the_stages_that_train_with_it_and_is_left_out_at_its_default():
    """Distill and the prune fine-tunes that reuse its loss re-run when it is set (quantize hashes the whole
    student section); while it is 0 the keys' values lack it, so builds cached before the option existed
    keep their keys."""
    def bigger_crops(data):
        data["data"]["crop_size"] = 64

    def temporal(data):
        bigger_crops(data)
        data["student"]["temporal_weight"] = 10.0

    assert _changed(_keys(_config(bigger_crops)), _keys(_config(temporal))) == {"distill", "prune", "quantize"}
    assert "temporal_weight" not in _config(bigger_crops).key_values()["student"]
    assert _config(temporal).key_values()["student"]["temporal_weight"] == 10.0


def test_converter_and_runtime_versions_are_recorded_and_key_nothing(monkeypatch):
    """The manifest's versions list each installed converter and runtime (executorch, litert-torch,
    ai-edge-litert, coremltools, onnxruntime-qnn) from package metadata, and leave out missing ones;
    no stage's cache key reads any version."""
    from importlib import metadata

    from stylectl.pipelines import runner

    versions = runner._versions()
    for package in runner.CONVERTER_PACKAGES:
        try:
            installed = metadata.version(package)
        except metadata.PackageNotFoundError:
            assert package not in versions
        else:
            assert versions[package] == installed
    assert {"executorch", "ai-edge-litert", "coremltools", "onnxruntime-qnn"} <= set(runner.CONVERTER_PACKAGES)
    assert {"litert-torch", "ai-edge-torch"} & set(runner.CONVERTER_PACKAGES)
    before = _keys(_config())
    monkeypatch.setattr(runner.metadata, "version", lambda package: "0.0-elsewhere")
    assert set(runner._versions()) >= set(runner.CONVERTER_PACKAGES)
    assert _keys(_config()) == before
