"""What a command prints when the chain finishes: a stage table, the report, gate results."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING

from rich.console import Console
from rich.table import Table

if TYPE_CHECKING:
    from stylectl.pipelines.config import RunConfig
    from stylectl.pipelines.fanout import BuildResult
    from stylectl.pipelines.runner import StageOutcome


def show(builds: list[tuple["RunConfig", list["StageOutcome"]]], as_json: bool,
         failed: list["BuildResult"] = ()) -> None:
    """Print each finished build's stage table (and evaluation table) for people, or JSON for CI,
    then, when there were several builds, one row per build: ok, or failed and why.

    JSON is one object for a single build and a list of them for several; a failed build's
    object has its status and error instead of stages.
    """
    if as_json:
        payloads = [_payload(config, outcomes) for config, outcomes in builds]
        payloads += [{"build": result.label, "status": "failed", "error": result.error} for result in failed]
        print(json.dumps(payloads[0] if len(payloads) == 1 else payloads, indent=2, default=str))
        return
    for config, outcomes in builds:
        _show_build(config, outcomes)
    if len(builds) + len(failed) > 1:
        _show_statuses([config.name for config, _ in builds], failed)


def _show_statuses(ok: list[str], failed: list["BuildResult"]) -> None:
    table = Table(title="builds")
    for column in ("build", "status", "reason"):
        table.add_column(column)
    for name in ok:
        table.add_row(name, "ok", "")
    for result in failed:
        table.add_row(result.label, "failed", result.error)
    Console(width=None if sys.stdout.isatty() else 120).print(table)


def _payload(config: "RunConfig", outcomes: list["StageOutcome"]) -> dict:
    return {
        "build": config.name,
        "stages": [{"stage": o.stage, "status": o.status, "seconds": round(o.seconds, 3),
                    "folder": str(o.artifact.folder), "metrics": o.artifact.metrics} for o in outcomes],
    }


def _show_build(config: "RunConfig", outcomes: list["StageOutcome"]) -> None:
    console = Console(width=None if sys.stdout.isatty() else 120)
    table = Table(title=f"build {config.name}")
    for column in ("stage", "status", "seconds", "output"):
        table.add_column(column)
    for outcome in outcomes:
        table.add_row(outcome.stage, outcome.status, f"{outcome.seconds:.1f}", str(outcome.artifact.folder))
    console.print(table)
    evaluation = next((o for o in outcomes if o.stage == "evaluate"), None)
    if evaluation:
        report = evaluation.artifact.folder / "report.md"
        console.print(f"\nreport: {report}")
        console.print(_report_table(evaluation.artifact.metrics))
        for line in _report_lines(evaluation.artifact.metrics):
            console.print(line, markup=False, highlight=False)


def _report_table(metrics: dict) -> Table:
    from stylectl.pipelines.report.cells import HEADERS, SUMMARY_COLUMNS, cell

    table = Table(title="evaluation on held-out photos (full table in report.md)")
    for column in SUMMARY_COLUMNS:
        table.add_column(HEADERS.get(column, column), justify="left" if column == "artifact" else "right")
    for row in metrics["rows"]:
        table.add_row(*(cell(row, column) for column in SUMMARY_COLUMNS))
    return table


def _report_lines(metrics: dict) -> list[str]:
    """The lines under the evaluation table: the busy-machine warning (when timing spread too much),
    and the gates' verdict ("passed", "FAILED" or "no gates configured")."""
    from stylectl.pipelines.report.gates import verdict

    warning = metrics.get("latency_warning")
    return [*([warning] if warning else []), f"gates: {verdict(metrics['gates'])}"]


def enforce_builds(results: list["BuildResult"]) -> None:
    """A failed build fails the command once the others have run: exit code 2 when every failure
    was bad input, else 1."""
    from stylectl.pipelines.errors import StylectlError, UserInputError

    failed = [result for result in results if not result.ok]
    if not failed:
        return
    print("\n".join(f"build failed: {result.label}: {result.error}" for result in failed), file=sys.stderr)
    bad_input = all(result.exit_code == UserInputError.exit_code for result in failed)
    error = UserInputError if bad_input else StylectlError
    names = ", ".join(result.label for result in failed)
    raise error(f"{len(failed)} of {len(results)} build(s) failed: {names}")


def enforce_exports(outcomes: list["StageOutcome"]) -> None:
    """Exit code 1 when an export wrote some files but not all (cached exports included): the
    files that passed stay usable in the export folder, and the report lists the failed ones."""
    from stylectl.pipelines.errors import StylectlError

    failed = [(o, failure) for o in outcomes if o.stage == "export" for failure in o.artifact.metrics.get("failures", [])]
    if failed:
        print("\n".join(f"export failed: {failure}" for _, failure in failed), file=sys.stderr)
        folders = ", ".join(sorted({str(o.artifact.folder) for o, _ in failed}))
        raise StylectlError(f"{len(failed)} exported file(s) failed; the others are in {folders} "
                            "(`--force export` redoes it)")


def enforce_gates(outcomes: list["StageOutcome"]) -> None:
    """Exit code 3 when an evaluation's gates failed (cached evaluations included)."""
    from stylectl.pipelines.errors import GateFailed

    evaluations = [o for o in outcomes if o.stage == "evaluate"]
    failed = [(o, failure) for o in evaluations for failure in o.artifact.metrics["gates"]["failures"]]
    if failed:
        print("\n".join(f"gate failed: {failure}" for _, failure in failed), file=sys.stderr)
        reports = ", ".join(sorted({str(o.artifact.folder / "report.md") for o, _ in failed}))
        raise GateFailed(f"{len(failed)} quality gate(s) failed; see {reports}")


def enforce_preflight(outcomes: list["StageOutcome"], strict: bool, show: bool) -> None:
    """Print each export's NPU pre-flight; with `strict`, any finding, and any file a vendor compiler
    did not fully compile, is exit code 3."""
    from stylectl.pipelines.errors import GateFailed
    from stylectl.pipelines.export.preflight import markdown

    exports = [o for o in outcomes if o.stage == "export"]
    if show:
        for outcome in exports:
            print(markdown(outcome.artifact.metrics["preflight"]), end="")
    findings = sum(len(o.artifact.metrics["preflight"]["findings"]) for o in exports)
    failures = [failure for o in exports for failure in o.artifact.metrics["preflight"].get("vendor_failures", [])]
    if strict and (findings or failures):
        folders = ", ".join(str(o.artifact.folder / "preflight.md") for o in exports)
        compiled = f"; not fully compiled: {'; '.join(failures)}" if failures else ""
        raise GateFailed(f"--strict: {findings} NPU pre-flight finding(s){compiled}; see {folders}")
