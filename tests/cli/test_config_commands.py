"""schema, ls, init, and every shipped config loads."""

import json

import pytest

from stylectl.cli.config_commands import shipped_configs
from stylectl.pipelines.config.loading import load_config


def test_schema_is_json_with_every_section(cli):
    code, out, _ = cli("schema")
    schema = json.loads(out)
    assert code == 0
    assert {"data", "style", "teacher", "student", "prune", "quantize", "export", "evaluate"} <= set(schema["properties"])


@pytest.mark.parametrize("name", sorted(shipped_configs()))
def test_every_shipped_config_is_valid_and_says_how_to_run_it(name, tmp_path):
    entry = shipped_configs()[name]
    path = tmp_path / f"{name}.yaml"
    path.write_text(entry.read_text())
    assert load_config(path).name
    assert entry.read_text().startswith(f"# stylectl run configs/{name}.yaml")


def test_ls_lists_shipped_configs(cli):
    code, out, _ = cli("ls")
    assert code == 0 and "quickstart" in out


def test_init_copies_and_renames(cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, out, _ = cli("init", "mybuild")
    assert code == 0
    config = load_config(tmp_path / "mybuild.yaml")
    assert config.name == "mybuild"
    assert (tmp_path / "mybuild.yaml").read_text().startswith("# stylectl run mybuild.yaml")
    code, _, err = cli("init", "mybuild")
    assert code == 2 and "already exists" in err
