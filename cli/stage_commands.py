"""`run` and one command per stage, generated from the stage registry."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from stylectl.cli import options, summary
from stylectl.pipelines.errors import UserInputError
from stylectl.pipelines.stages import STAGE_NAMES, STAGES, StageInfo

StageChoice = typer.Option(None, help=f"One of: {', '.join(STAGE_NAMES)}.")


def _check_stage(value: str | None, flag: str) -> None:
    if value is not None and value not in (*STAGE_NAMES, "all"):
        raise UserInputError(f"{flag} {value}: unknown stage (choose from {', '.join(STAGE_NAMES)})")


def _execute(config_path: Path, overrides, plan_factory, checkpoints: Path, as_json: bool, plain: bool) -> list:
    """Run the plan for each style's build, print each summary, then fail on any export that
    failed (exit 1) and on every gate (exit 3)."""
    from stylectl.pipelines.progress import make_reporter
    from stylectl.pipelines.runner import run_stages

    reporter = make_reporter(plain or None)
    builds = [(config, run_stages(config, plan_factory(), checkpoints, reporter))
              for config in options.load(config_path, overrides).per_style()]
    summary.show(builds, as_json)
    summary.enforce_exports([outcome for _, outcomes in builds for outcome in outcomes])
    summary.enforce_gates([outcome for _, outcomes in builds for outcome in outcomes])
    return builds


def run(
    config: Path = options.ConfigArg,
    set_: options.Overrides = options.SetOpt,
    start: Optional[str] = typer.Option(None, "--from", help="Redo this stage and every later one; earlier ones must be cached."),
    until: Optional[str] = typer.Option(None, "--until", help="Stop after this stage."),
    force: Optional[List[str]] = typer.Option(
        None, "--force", help="Redo STAGE even if cached; a bare --force redoes every stage run (repeatable)."
    ),
    resume: bool = options.ResumeOpt,
    checkpoints: Path = options.CheckpointsOpt,
    as_json: bool = options.JsonOpt,
    plain: bool = options.PlainOpt,
) -> None:
    """Run the whole chain: train-teacher -> distill -> prune -> quantize -> export -> evaluate."""
    from stylectl.pipelines.runner import plan_chain

    for value, flag in ((start, "--from"), (until, "--until"), *((name, "--force") for name in force or [])):
        _check_stage(value, flag)
    _execute(config, set_, lambda: plan_chain(start, until, force, resume), checkpoints, as_json, plain)


def _stage_command(stage: StageInfo):
    def command(
        config: Path = options.ConfigArg,
        set_: options.Overrides = options.SetOpt,
        force: Optional[List[str]] = typer.Option(
            None, "--force", help=f"Redo STAGE even if cached; a bare --force redoes {stage.name} itself (repeatable)."
        ),
        resume: bool = options.ResumeOpt,
        sweep: Optional[str] = typer.Option(
            None, "--sweep", help="Run once per value and tabulate/plot: --sweep student.width=0.25,0.5,1.0"
        ),
        sensitivity: bool = typer.Option(
            False, "--sensitivity", help="prune, quantize: scan what pruning or quantizing each layer alone costs."
        ),
        compare: bool = typer.Option(
            False, "--compare", help="quantize only: also time every scheme in onnxruntime and plot them."
        ),
        check: bool = typer.Option(False, "--check", help="export only: print the NPU pre-flight findings."),
        strict: bool = typer.Option(
            False, "--strict", help="export only: NPU pre-flight findings are an error (exit code 3)."
        ),
        checkpoints: Path = options.CheckpointsOpt,
        as_json: bool = options.JsonOpt,
        plain: bool = options.PlainOpt,
    ) -> None:
        from stylectl.pipelines.runner import plan_stage

        if sweep:
            _sweep(stage.name, config, set_, sweep, checkpoints, plain)
            return
        if compare:
            if stage.name != "quantize":
                raise UserInputError(f"--compare: only `stylectl quantize` compares schemes, not `{stage.name}`")
            set_ = [*(set_ or []), "quantize.compare=true"]
        if sensitivity:
            _sensitivity(stage.name, config, set_, checkpoints, plain)
            return
        if (check or strict) and stage.name != "export":
            raise UserInputError(f"--check/--strict: only `stylectl export` has an NPU pre-flight, not `{stage.name}`")
        for name in force or []:
            _check_stage(name, "--force")
        forced = {stage.name if name == "all" else name for name in force or []}
        builds = _execute(config, set_, lambda: plan_stage(stage.name, forced, resume), checkpoints, as_json, plain)
        if check or strict:
            summary.enforce_preflight([outcome for _, outcomes in builds for outcome in outcomes], strict,
                                      show=not as_json)

    command.__doc__ = f"{stage.help} Builds or reuses the stages it needs."
    return command


def _sweep(stage: str, config: Path, overrides, spec: str, checkpoints: Path, plain: bool) -> None:
    from stylectl.pipelines.progress import make_reporter
    from stylectl.pipelines.sweep import run_sweep

    folder = run_sweep(config, overrides or [], stage, spec, checkpoints, make_reporter(plain or None))
    print((folder / "sweep.md").read_text(), end="")
    print(f"sweep table and plot: {folder}")


def _sensitivity(stage: str, config: Path, overrides, checkpoints: Path, plain: bool) -> None:
    from stylectl.pipelines.progress import make_reporter

    if stage == "prune":
        from stylectl.pipelines.sensitivity import run_sensitivity as scan
    elif stage == "quantize":
        from stylectl.pipelines.quant.sensitivity import run_quant_sensitivity as scan
    else:
        raise UserInputError(f"--sensitivity: only `stylectl prune` and `stylectl quantize` have a sensitivity "
                             f"scan, not `{stage}`")
    reporter = make_reporter(plain or None)
    for build in options.load(config, overrides).per_style():
        folder = scan(build, checkpoints, reporter)
        print((folder / "sensitivity.md").read_text(), end="")
        print(f"sensitivity table and plot: {folder}")


def register(app: typer.Typer) -> None:
    """Add `run` and one command per registered stage, in chain order."""
    app.command("run")(run)
    for stage in STAGES:
        app.command(stage.name, short_help=stage.help)(_stage_command(stage))
