"""Shared fixtures: a tiny build config that runs the whole chain in seconds."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import NamedTuple

import pytest
import yaml

# The console script of the venv running the tests (subprocess tests run the real entry point).
STYLECTL = str(Path(sys.executable).parent / "stylectl")

TINY_CONFIG = {
    "name": "tiny",
    "seed": 0,
    "data": {"content": "builtin:photos", "crop_size": 32, "max_side": 96, "eval_size": 32},
    "style": {"image": "builtin:great_wave", "size": 64},
    "teacher": {"width": 4, "res_blocks": 1, "steps": 2, "batch_size": 2,
                "content_layers": ["relu2_2"], "style_layers": ["relu1_2", "relu2_2"],
                "trainer": {"accelerator": "cpu", "log_every_n_steps": 1}},
    "student": {"width": 0.25, "blocks": 1, "steps": 2, "batch_size": 2, "trainer": {"accelerator": "cpu", "log_every_n_steps": 1}},
    "prune": {"ratio": 0.25, "finetune_steps": 1, "batch_size": 2, "round_to": 4},  # tiny layers: 4-8 channels
    "quantize": {"calibration_images": 2},
    "export": {"formats": ["onnx"], "parity_min_psnr": 25.0},
    "evaluate": {"warmup": 1, "runs": 2, "style_layers": ["relu1_1", "relu2_1"], "content_layers": ["relu2_1"]},
}


class TinyBuild(NamedTuple):
    config_path: Path
    checkpoints: Path
    outcomes: list  # the StageOutcome of each stage of the first run


@pytest.fixture(scope="session")
def tiny_build(tmp_path_factory) -> TinyBuild:
    """A tiny build run once for the whole session; tests must leave its cache valid."""
    from stylectl.pipelines.config import RunConfig
    from stylectl.pipelines.progress import PlainReporter
    from stylectl.pipelines.runner import plan_chain, run_stages

    folder = tmp_path_factory.mktemp("tiny_build")
    config_path = folder / "tiny.yaml"
    config_path.write_text(yaml.safe_dump(TINY_CONFIG, sort_keys=False))
    checkpoints = folder / "checkpoints"
    outcomes = run_stages(RunConfig.model_validate(TINY_CONFIG), plan_chain(None, None, None), checkpoints,
                          PlainReporter())
    return TinyBuild(config_path, checkpoints, outcomes)


@pytest.fixture
def tiny_config_path(tmp_path: Path) -> Path:
    """A tiny config written to a temp folder."""
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(TINY_CONFIG, sort_keys=False))
    return path


@pytest.fixture
def cli(monkeypatch, capsys):
    """Run `stylectl ARGS` in-process; returns (exit code, stdout, stderr)."""
    from stylectl.cli.main import main

    def invoke(*args: str) -> tuple[int, str, str]:
        monkeypatch.setattr(sys, "argv", ["stylectl", *map(str, args)])
        try:
            main()
            code = 0
        except SystemExit as exit_:
            code = exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 1)
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return invoke
