"""prune: MACs targets reached step by step, criteria, protected layers, sparsity, sensitivity."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import yaml

from stylectl.pipelines.config import PruneConfig
from stylectl.pipelines.errors import UserInputError
from stylectl.pipelines.models.cost import count_macs
from stylectl.pipelines.models.pruning import prunable_layers, prune_one_layer, prune_steps, sparsify
from stylectl.pipelines.models.spec import build_model, spec_of
from stylectl.pipelines.models.student import SHUFFLE, StudentNet, student_params

pytestmark = pytest.mark.slow


def _student() -> StudentNet:
    torch.manual_seed(0)
    return StudentNet(**student_params(1.0, 2, 1.5)).eval()


@pytest.mark.parametrize("importance", ["l1", "l2", "bn_scale", "taylor"])
def test_macs_target_is_reached_in_steps_and_the_result_rebuilds(importance):
    student = _student()
    base = count_macs(student, 64)

    def gradients():
        student.zero_grad()
        student(torch.rand(2, 3, 64, 64)).mean().backward()

    settings = PruneConfig(ratio=0.5, schedule_steps=2, importance=importance)
    steps = list(prune_steps(student, settings, 64, gradients))
    assert [step["step"] for step in steps] == [1, 2]
    assert steps[0]["macs"] <= 0.75 * base and steps[1]["macs"] <= 0.5 * base
    assert student.head.out_channels == 3 * SHUFFLE**2  # protected by default: the pixel-shuffle head's RGB blocks
    rebuilt = build_model(spec_of(student))
    rebuilt.load_state_dict(student.state_dict())
    image = torch.rand(1, 3, 64, 64)
    assert torch.allclose(rebuilt.eval()(image), student(image))
    assert all(channels % 4 == 0 for channels in spec_of(student).params["block_mid"])


def test_a_skip_student_prunes_both_sides_of_its_add_alike():
    torch.manual_seed(0)
    student = StudentNet(**student_params(1.0, 2, 1.5, skip=True)).eval()
    list(prune_steps(student, PruneConfig(ratio=0.5, schedule_steps=1), 64, lambda: None))
    params = spec_of(student).params
    assert params["skip"] and params["up"][0] == params["down"][0]  # torch-pruning coupled them through the add
    rebuilt = build_model(spec_of(student))
    rebuilt.load_state_dict(student.state_dict())
    image = torch.rand(1, 3, 64, 64)
    assert torch.allclose(rebuilt.eval()(image), student(image))


def test_channel_target_and_global_allocation():
    student = _student()
    list(prune_steps(student, PruneConfig(target="channels", ratio=0.25, allocation="global"), 64, lambda: None))
    assert count_macs(student, 64) < count_macs(_student(), 64)


def test_unreachable_target_and_unknown_layer_are_config_errors():
    with pytest.raises(UserInputError, match="cannot remove 90% of the MACs"):
        list(prune_steps(_student(), PruneConfig(ratio=0.9, max_layer_ratio=0.3), 64, lambda: None))
    with pytest.raises(UserInputError, match="prune.ignore_layers: no student layer named \\['nope'\\]"):
        list(prune_steps(_student(), PruneConfig(ignore_layers=["nope"]), 64, lambda: None))


def test_sparsity_zeros_weights():
    student = _student()
    assert sparsify(student, 0.5) == pytest.approx(0.5, abs=0.01)


def test_single_layer_pruning_for_the_scan():
    student = _student()
    layers = prunable_layers(student, PruneConfig())
    assert "head" not in layers and len(layers) >= 4
    pruned = prune_one_layer(student, layers[0], 0.5)
    assert count_macs(pruned, 64) < count_macs(student, 64)
    assert count_macs(student, 64) == count_macs(_student(), 64)  # the original is untouched


def test_prune_stage_records_history_and_sparse_copy(tiny_build, tmp_path):
    from stylectl.pipelines.config import RunConfig
    from stylectl.pipelines.progress import PlainReporter
    from stylectl.pipelines.runner import plan_stage, run_stages
    from tests.conftest import TINY_CONFIG

    data = yaml.safe_load(yaml.safe_dump(TINY_CONFIG))
    data["prune"].update(ratio=0.4, schedule_steps=2, sparsity=0.5, round_to=1)
    outcome = run_stages(RunConfig.model_validate(data), plan_stage("prune"), tiny_build.checkpoints,
                         PlainReporter())[-1]
    metrics = outcome.artifact.metrics
    assert [entry["step"] for entry in metrics["history"]] == [0, 1, 2]
    assert metrics["macs_ratio"] <= 0.6
    assert metrics["sparsity"]["achieved"] == pytest.approx(0.5, abs=0.01)
    assert metrics["sparsity"]["zip_bytes_sparse"] < metrics["sparsity"]["zip_bytes_dense"]
    assert (outcome.artifact.folder / "student_sparse.safetensors").exists()


def test_sensitivity_scan_writes_table_and_plot(cli, tiny_build):
    config, checkpoints, _ = tiny_build
    code, out, err = cli("prune", config, "--checkpoints", checkpoints, "--sensitivity")
    assert code == 0, err
    folder = Path(out.strip().splitlines()[-1].split(": ", 1)[1])
    report = json.loads((folder / "sensitivity.json").read_text())
    assert report["rows"] and set(report["rows"][0]["psnr_drop_db"]) == {"0.25", "0.5", "0.75"}
    assert (folder / "sensitivity.png").read_bytes().startswith(b"\x89PNG")
    code, _, err = cli("distill", config, "--checkpoints", checkpoints, "--sensitivity")
    assert code == 2 and "No such option: --sensitivity" in err  # distill does not offer it
