"""The `stylectl` entry point: the Typer app, global options and error handling.

Commands only parse and hand over to `stylectl.pipelines`; heavy libraries (torch,
Lightning, onnx) are imported by the stages that use them, so `stylectl --help` is instant.
"""

from __future__ import annotations

import os
import sys
import traceback
from pathlib import Path

import typer

from stylectl.cli import config_commands, stage_commands, stylize_command
from stylectl.pipelines.errors import StylectlError
from stylectl.pipelines.stages import STAGE_NAMES

app = typer.Typer(
    name="stylectl",
    help="Turn a style into a small, fast, NPU-ready image-to-image model, and measure it honestly.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
stage_commands.register(app)
config_commands.register(app)
stylize_command.register(app)


@app.callback()
def _global_options(
    debug: bool = typer.Option(False, "--debug", help="Show full tracebacks on errors."),
) -> None:
    """stylectl: train-teacher -> distill -> prune -> quantize -> export -> evaluate, from one YAML file."""


def normalize_force(argv: list[str]) -> list[str]:
    """Let `--force` take an optional stage name: a bare `--force` becomes `--force all`.

    Click/Typer options cannot have an optional value, and `--force [STAGE]` is the
    interface users expect; rewriting the one token keeps every other argument untouched.
    """
    result = []
    for index, token in enumerate(argv):
        result.append(token)
        following = argv[index + 1] if index + 1 < len(argv) else None
        if token == "--force" and following not in (*STAGE_NAMES, "all") and not _names_a_stage(following):
            result.append("all")
    return result


def _names_a_stage(token: str | None) -> bool:
    """Whether the token after a bare `--force` was meant as a stage name (a typo such as `--force
    distil`), not the config path or another option: then the option's check names the stages."""
    return bool(token) and not token.startswith("-") and not token.endswith((".yaml", ".yml")) \
        and not Path(token).exists()


def _print_error(message: str) -> None:
    for line in message.splitlines() or [""]:
        print(f"error: {line}", file=sys.stderr)


def main() -> None:
    """Console script: map exceptions to one-line errors and exit codes (0/1/2/3; 130/143 when interrupted)."""
    argv = normalize_force(sys.argv[1:])
    debug = "--debug" in argv or bool(os.environ.get("STYLECTL_DEBUG"))
    try:
        code = app(args=argv, prog_name="stylectl", standalone_mode=False)  # Click's usage errors come to us
    except typer.Abort:  # Ctrl-C at a prompt
        _print_error("interrupted")
        sys.exit(130)
    except typer.TyperException as error:  # Click's usage errors: one line, exit 2
        context, message = getattr(error, "ctx", None), error.format_message()
        if not message and context is not None:  # bare `stylectl`: the help is the answer
            print(context.get_help())
            sys.exit(2)
        if debug:
            traceback.print_exc()
        command = context.command_path if context else "stylectl"
        _print_error(f"{command}: {message} (see {command} --help)")
        sys.exit(2)
    except StylectlError as error:
        if debug:
            traceback.print_exc()
        _print_error(str(error))
        sys.exit(error.exit_code)
    except KeyboardInterrupt:
        if debug:
            raise
        _print_error("interrupted (a training stage stops at the next batch with a checkpoint; others start over)")
        sys.exit(130)
    except Exception as error:  # noqa: BLE001 - the last line of defence for a CLI
        if debug:
            raise
        _print_error(f"{type(error).__name__}: {error} (run with --debug for the traceback)")
        sys.exit(1)
    sys.exit(code if isinstance(code, int) else 0)  # --help and --version return their code


if __name__ == "__main__":
    main()
