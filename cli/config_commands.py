"""Commands about configs: validate, schema, ls, init."""

from __future__ import annotations

import json
import re
from importlib import resources
from pathlib import Path
from typing import Optional

import typer

from stylectl.cli import options


def validate(config: Path = options.ConfigArg, set_: options.Overrides = options.SetOpt,
             as_json: bool = options.JsonOpt) -> None:
    """Check a config without running anything; print the resolved config with --json."""
    resolved = options.load(config, set_)
    if as_json:
        print(json.dumps(resolved.model_dump(mode="json"), indent=2))
    else:
        print(f"{config}: ok (build '{resolved.name}')")


def schema(output: Optional[Path] = typer.Option(None, "--output", "-o", help="Write to a file instead of stdout."),
           markdown: bool = typer.Option(False, "--markdown", help="The Markdown reference (docs/configs.md) instead "
                                         "of JSON schema.")) -> None:
    """Print the JSON schema of build configs (for editor completion and validation), or --markdown its reference."""
    from stylectl.pipelines.artifacts import write_atomic
    from stylectl.pipelines.config import RunConfig
    from stylectl.pipelines.config.reference import markdown_reference

    text = markdown_reference() if markdown else json.dumps(RunConfig.model_json_schema(), indent=2) + "\n"
    if output:
        write_atomic(output, text.encode())
    else:
        print(text, end="")


def shipped_configs() -> dict[str, resources.abc.Traversable]:
    """Configs that ship inside the package, by name."""
    folder = resources.files("stylectl.configs")
    return {entry.name.removesuffix(".yaml"): entry for entry in folder.iterdir() if entry.name.endswith(".yaml")}


def _summary(text: str) -> str:
    """The first comment line that is not the command line: what the config is for."""
    for line in text.splitlines():
        if line.startswith("#") and "stylectl " not in line:
            return line.lstrip("# ").strip()
    return ""


def ls() -> None:
    """List the shipped configs."""
    from rich.console import Console
    from rich.table import Table

    table = Table()
    table.add_column("config")
    table.add_column("what it builds")
    for name, entry in sorted(shipped_configs().items()):
        table.add_row(name, _summary(entry.read_text()))
    Console().print(table)


def init(
    name: str = typer.Argument(..., help="Name of the new build (also the file name)."),
    template: str = typer.Option("quickstart", "--from", help="Shipped config to start from (see `stylectl ls`)."),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="Where to write (default: NAME.yaml)."),
) -> None:
    """Copy a shipped config to start a new build."""
    from stylectl.pipelines.artifacts import write_atomic
    from stylectl.pipelines.config import RunConfig
    from stylectl.pipelines.errors import UserInputError

    configs = shipped_configs()
    if template not in configs:
        raise UserInputError(f"--from {template}: no such shipped config (choose from {', '.join(sorted(configs))})")
    try:
        RunConfig(name=name)
    except ValueError:
        raise UserInputError(f"{name}: invalid build name (letters, digits, '_', '-', '.')") from None
    target = output or Path(f"{name}.yaml")
    if target.exists():
        raise UserInputError(f"{target}: already exists; choose another name or --output")
    text = re.sub(r"(?m)^name:.*$", f"name: {name}", configs[template].read_text())
    text = re.sub(r"(?m)^(# stylectl \S+ ).*\.yaml", rf"\g<1>{target}", text, count=1)
    write_atomic(target, text.encode())
    print(f"wrote {target} (from {template}); run it with: stylectl run {target}")


def register(app: typer.Typer) -> None:
    for command in (validate, schema, ls, init):
        app.command(command.__name__)(command)
