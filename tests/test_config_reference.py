"""docs/configs.md is what `stylectl schema --markdown` writes from the declarations: never edited by
hand, never stale."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from stylectl.cli.main import app
from stylectl.pipelines.config.reference import markdown_reference

ROOT = Path(__file__).resolve().parents[1]


def test_docs_configs_md_matches_the_declarations():
    assert (ROOT / "docs" / "configs.md").read_text() == markdown_reference(), (
        "docs/configs.md is stale: run `stylectl schema --markdown -o docs/configs.md`")


def test_reference_lists_every_section_and_nested_block():
    text = markdown_reference()
    for heading in ("## `data`", "## `teacher.trainer`", "## `student.augment`", "## `quantize.schemes`",
                    "## `evaluate.gates`"):
        assert heading in text
    assert "| `min_psnr_vs_teacher` |" in text and "| `rounds` | int | `5` |" in text


def test_schema_command_writes_markdown(tmp_path):
    target = tmp_path / "configs.md"
    result = CliRunner().invoke(app, ["schema", "--markdown", "-o", str(target)])
    assert result.exit_code == 0, result.output
    assert target.read_text() == markdown_reference()
