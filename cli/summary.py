"""What a command prints when the chain finishes: a stage table, the report, gate results."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING

from rich.console import Console
from rich.table import Table

if TYPE_CHECKING:
    from stylectl.pipelines.config import RunConfig
    from stylectl.pipelines.runner import StageOutcome


def show(config: "RunConfig", outcomes: list["StageOutcome"], as_json: bool) -> None:
    """Print the stage table (and the evaluation table) for people, or JSON for CI."""
    if as_json:
        payload = {
            "build": config.name,
            "stages": [
                {"stage": o.stage, "status": o.status, "seconds": round(o.seconds, 3),
                 "folder": str(o.artifact.folder), "metrics": o.artifact.metrics}
                for o in outcomes
            ],
        }
        print(json.dumps(payload, indent=2, default=str))
        return
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


def _report_table(metrics: dict) -> Table:
    from stylectl.pipelines.report import HEADERS, SUMMARY_COLUMNS, format_value

    table = Table(title="evaluation on held-out photos (full table in report.md)")
    for column in SUMMARY_COLUMNS:
        table.add_column(HEADERS.get(column, column), justify="left" if column == "artifact" else "right")
    for row in metrics["rows"]:
        table.add_row(*(format_value(row.get(column)) for column in SUMMARY_COLUMNS))
    return table


def enforce_gates(outcomes: list["StageOutcome"]) -> None:
    """Exit code 3 when the evaluation's gates failed (cached evaluations included)."""
    from stylectl.pipelines.errors import GateFailed

    evaluation = next((o for o in outcomes if o.stage == "evaluate"), None)
    failures = evaluation.artifact.metrics["gates"]["failures"] if evaluation else []
    if failures:
        print("\n".join(f"gate failed: {failure}" for failure in failures), file=sys.stderr)
        raise GateFailed(f"{len(failures)} quality gate(s) failed; see {evaluation.artifact.folder / 'report.md'}")
