"""Options shared by every command that takes a config, declared once."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

ConfigArg = typer.Argument(..., help="Build config (YAML), e.g. configs/quickstart.yaml.", show_default=False)
ConfigsArg = typer.Argument(
    ..., help="Build configs (YAML), e.g. configs/quickstart.yaml; each style of each is a build.", show_default=False
)
SetOpt = typer.Option(None, "--set", help="Override a config value: --set teacher.steps=100 (repeatable).")
JsonOpt = typer.Option(False, "--json", help="Print a machine-readable summary on stdout.")
PlainOpt = typer.Option(False, "--plain", help="Plain progress lines instead of bars (automatic when not a TTY).")
ResumeOpt = typer.Option(
    False, "--resume", help="Continue an interrupted training stage from its last checkpoint."
)
ExecutorOpt = typer.Option(
    "serial", "--executor",
    help="serial: one build after another here; ray: each build (style, sweep point) a task on a Ray cluster."
)
AddressOpt = typer.Option(
    None, "--address", help="With --executor ray: the cluster to use (host:port, or 'auto' for `ray start` here); "
    "default: a local cluster started for this run."
)
CheckpointsOpt = typer.Option(Path("checkpoints"), "--checkpoints", help="Where stage outputs are cached.")

Overrides = Optional[List[str]]


def check_executor(executor: str, address: str | None) -> None:
    """Refuse an unknown executor, and --address without Ray, before anything is loaded."""
    from stylectl.pipelines.errors import UserInputError
    from stylectl.pipelines.fanout import EXECUTORS

    if executor not in EXECUTORS:
        raise UserInputError(f"--executor {executor}: choose {' or '.join(EXECUTORS)}")
    if address and executor != "ray":
        raise UserInputError("--address needs --executor ray")


def load(config: Path, overrides: Overrides):
    """Load and validate a config (imports pydantic only when a command needs it)."""
    from stylectl.pipelines.config.loading import load_config

    return load_config(config, overrides or [])
