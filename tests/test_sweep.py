"""A sweep runs the stage per value and writes a table and a quality-vs-MACs plot."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from stylectl.pipelines.errors import UserInputError
from stylectl.pipelines.studies.sweep import parse_sweep

pytestmark = pytest.mark.slow


def test_parse_sweep():
    assert parse_sweep("student.width=0.25,0.5") == ("student.width", [0.25, 0.5])
    with pytest.raises(UserInputError, match="two or more values"):
        parse_sweep("student.width=0.25")


def test_distill_sweep_writes_table_and_plot(cli, tiny_build):
    config, checkpoints, _ = tiny_build
    code, out, err = cli("distill", config, "--checkpoints", checkpoints, "--sweep", "student.width=0.25,0.5")
    assert code == 0, err
    folder = Path(out.strip().splitlines()[-1].split(": ", 1)[1])
    rows = json.loads((folder / "sweep.json").read_text())["rows"]
    assert [row["student.width"] for row in rows] == [0.25, 0.5]
    assert rows[0]["macs"] < rows[1]["macs"]
    assert all("psnr_vs_teacher" in row for row in rows)
    assert (folder / "sweep.png").read_bytes().startswith(b"\x89PNG")
    assert "| student.width |" in (folder / "sweep.md").read_text()
