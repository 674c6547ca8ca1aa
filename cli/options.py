"""Options shared by every command that takes a config, declared once."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

ConfigArg = typer.Argument(..., help="Build config (YAML), e.g. configs/quickstart.yaml.", show_default=False)
SetOpt = typer.Option(None, "--set", help="Override a config value: --set teacher.steps=100 (repeatable).")
JsonOpt = typer.Option(False, "--json", help="Print a machine-readable summary on stdout.")
PlainOpt = typer.Option(False, "--plain", help="Plain progress lines instead of bars (automatic when not a TTY).")
ResumeOpt = typer.Option(
    False, "--resume", help="Continue an interrupted training stage from its last checkpoint."
)
CheckpointsOpt = typer.Option(Path("checkpoints"), "--checkpoints", help="Where stage outputs are cached.")

Overrides = Optional[List[str]]


def load(config: Path, overrides: Overrides):
    """Load and validate a config (imports pydantic only when a command needs it)."""
    from stylectl.pipelines.config.loading import load_config

    return load_config(config, overrides or [])
