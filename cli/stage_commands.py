"""`run` and one command per stage, generated from the stage registry."""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import List, Optional

import typer

from stylectl.cli import options, summary
from stylectl.pipelines.errors import UserInputError
from stylectl.pipelines.stages import STAGE_NAMES, STAGES, StageInfo


def _check_stage(value: str | None, flag: str) -> None:
    if value is not None and value not in (*STAGE_NAMES, "all"):
        raise UserInputError(f"{flag} {value}: unknown stage (choose from {', '.join(STAGE_NAMES)})")


def _execute(config_paths: list[Path], overrides, plan_factory, checkpoints: Path, as_json: bool, plain: bool,
             executor: str, address: str | None) -> list:
    """Run the plan for each style of each config (one build each) on the executor, print each
    summary, then fail on any failed build (its exit code), any export that failed (exit 1) and
    every gate (exit 3)."""
    from stylectl.pipelines.fanout import Build, run_builds
    from stylectl.pipelines.progress import make_reporter

    options.check_executor(executor, address)
    configs = [config for path in config_paths for config in options.load(path, overrides).per_style()]
    results = run_builds([Build(config.name, config) for config in configs], plan_factory(), checkpoints,
                         make_reporter(plain or None), executor, address)
    builds = [(config, list(result.outcomes)) for config, result in zip(configs, results) if result.ok]
    summary.show(builds, as_json, failed=[result for result in results if not result.ok])
    summary.enforce_builds(results)
    summary.enforce_exports([outcome for _, outcomes in builds for outcome in outcomes])
    summary.enforce_gates([outcome for _, outcomes in builds for outcome in outcomes])
    return builds


def run(
    configs: List[Path] = options.ConfigsArg,
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
    executor: str = options.ExecutorOpt,
    address: Optional[str] = options.AddressOpt,
) -> None:
    """Run the whole chain: train-teacher -> distill -> prune -> quantize -> export -> evaluate (every
    style of every config given is a build)."""
    from stylectl.pipelines.runner import plan_chain

    for value, flag in ((start, "--from"), (until, "--until"), *((name, "--force") for name in force or [])):
        _check_stage(value, flag)
    _execute(configs, set_, lambda: plan_chain(start, until, force, resume), checkpoints, as_json, plain, executor,
             address)


# Flags that only some stage commands take: each command lists its own, so `stylectl distill --help`
# does not offer --compare, and typer itself rejects one given to the wrong command.
STAGE_ONLY_FLAGS = {"sensitivity": ("prune", "quantize"), "compare": ("quantize",), "check": ("export",),
                    "strict": ("export",)}


def _stage_options(
    config: Path = options.ConfigArg,
    set_: options.Overrides = options.SetOpt,
    force: Optional[List[str]] = typer.Option(
        None, "--force", help="Redo STAGE even if cached; a bare --force redoes this stage itself (repeatable)."
    ),
    resume: bool = options.ResumeOpt,
    sweep: Optional[str] = typer.Option(
        None, "--sweep", help="Run once per value and tabulate/plot: --sweep student.width=0.25,0.5,1.0"
    ),
    sensitivity: bool = typer.Option(False, "--sensitivity", help="Scan what pruning or quantizing each layer alone costs."),
    compare: bool = typer.Option(False, "--compare", help="Also time every scheme in onnxruntime and plot them."),
    check: bool = typer.Option(False, "--check", help="Print the NPU pre-flight findings."),
    strict: bool = typer.Option(False, "--strict", help="NPU pre-flight findings are an error (exit code 3)."),
    checkpoints: Path = options.CheckpointsOpt,
    as_json: bool = options.JsonOpt,
    plain: bool = options.PlainOpt,
    executor: str = options.ExecutorOpt,
    address: Optional[str] = options.AddressOpt,
) -> None:
    """The options of a stage command, declared once; each command keeps those that apply to it."""


def _stage_command(stage: StageInfo):
    def command(**values) -> None:
        from stylectl.pipelines.runner import plan_stage

        config, set_, checkpoints, plain = values["config"], values["set_"], values["checkpoints"], values["plain"]
        executor, address = values["executor"], values["address"]
        if values["sweep"]:
            _sweep(stage.name, config, set_, values["sweep"], checkpoints, plain, executor, address)
            return
        if values.get("compare"):
            set_ = [*(set_ or []), "quantize.compare=true"]
        if values.get("sensitivity"):
            _sensitivity(stage.name, config, set_, checkpoints, plain)
            return
        for name in values["force"] or []:
            _check_stage(name, "--force")
        forced = {stage.name if name == "all" else name for name in values["force"] or []}
        builds = _execute([config], set_, lambda: plan_stage(stage.name, forced, values["resume"]), checkpoints,
                          values["as_json"], plain, executor, address)
        if values.get("check") or values.get("strict"):
            summary.enforce_preflight([outcome for _, outcomes in builds for outcome in outcomes],
                                      values.get("strict", False), show=not values["as_json"])

    signature = inspect.signature(_stage_options, eval_str=True)
    command.__signature__ = signature.replace(parameters=[
        parameter for name, parameter in signature.parameters.items()
        if stage.name in STAGE_ONLY_FLAGS.get(name, (stage.name,))])
    command.__annotations__ = _stage_options.__annotations__
    command.__doc__ = f"{stage.help} Builds or reuses the stages it needs."
    return command


def _sweep(stage: str, config: Path, overrides, spec: str, checkpoints: Path, plain: bool, executor: str,
           address: str | None) -> None:
    from stylectl.pipelines.progress import make_reporter
    from stylectl.pipelines.studies.sweep import run_sweep

    options.check_executor(executor, address)
    folder, results = run_sweep(config, overrides or [], stage, spec, checkpoints, make_reporter(plain or None),
                                executor, address)
    print((folder / "sweep.md").read_text(), end="")
    print(f"sweep table and plot: {folder}")
    summary.enforce_builds(results)


def _sensitivity(stage: str, config: Path, overrides, checkpoints: Path, plain: bool) -> None:
    from stylectl.pipelines.progress import make_reporter

    if stage == "prune":
        from stylectl.pipelines.studies.prune_sensitivity import run_sensitivity as scan
    else:  # quantize: the only other command with --sensitivity (STAGE_ONLY_FLAGS)
        from stylectl.pipelines.studies.quant_sensitivity import run_quant_sensitivity as scan
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
