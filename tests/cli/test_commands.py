"""The CLI's stage commands are exactly the stage registry, and --help stays cheap."""

import subprocess
import sys

import typer.main

from stylectl.cli.main import app, normalize_force
from stylectl.pipelines.stages import STAGE_NAMES

CONFIG_COMMANDS = {"run", "validate", "schema", "ls", "init"}
OTHER_COMMANDS = {"stylize"}


def _command_names() -> list[str]:
    return list(typer.main.get_command(app).commands)


def test_stage_commands_equal_registry():
    names = _command_names()
    stage_commands = [name for name in names if name not in CONFIG_COMMANDS | OTHER_COMMANDS]
    assert stage_commands == list(STAGE_NAMES)
    assert CONFIG_COMMANDS | OTHER_COMMANDS <= set(names)


def test_help_lists_every_command_without_importing_torch():
    code = (
        "import sys; from stylectl.cli.main import app; import typer.main; "
        "typer.main.get_command(app); "
        "heavy = [m for m in ('torch', 'pytorch_lightning', 'onnx', 'onnxruntime', 'executorch', 'onnxruntime_qnn', 'av', 'ray') "
        "if m in sys.modules]; "
        "print(heavy)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
    help_text = subprocess.run([sys.executable, "-m", "stylectl.cli.main", "--help"],
                               capture_output=True, text=True, check=True).stdout
    for name in [*STAGE_NAMES, *CONFIG_COMMANDS, *OTHER_COMMANDS]:
        assert name in help_text


def test_bare_force_means_all_and_named_force_is_kept():
    assert normalize_force(["run", "c.yaml", "--force"]) == ["run", "c.yaml", "--force", "all"]
    assert normalize_force(["run", "--force", "c.yaml"]) == ["run", "--force", "all", "c.yaml"]
    assert normalize_force(["run", "c.yaml", "--force", "distill"]) == ["run", "c.yaml", "--force", "distill"]


def test_each_stage_command_offers_only_its_own_flags():
    commands = typer.main.get_command(app).commands
    offered = {name: {option for param in commands[name].params for option in param.opts} for name in STAGE_NAMES}
    only = {"--sensitivity": {"prune", "quantize"}, "--compare": {"quantize"}, "--check": {"export"},
            "--strict": {"export"}}
    for flag, stages in only.items():
        assert {name for name in STAGE_NAMES if flag in offered[name]} == stages, flag
    shared = {"--set", "--force", "--resume", "--sweep", "--checkpoints", "--json", "--plain", "--executor", "--address"}
    assert all(shared <= flags for flags in offered.values())
