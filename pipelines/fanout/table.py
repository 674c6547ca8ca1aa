"""The driver's view of a fan-out: one row per build, one column per stage, from the board's events.

On a terminal it is a live rich table; in a log (CI, `--plain`) every event is a line prefixed
with its build, and progress bars print every tenth.
"""

from __future__ import annotations

from stylectl.pipelines.fanout.build import BuildResult
from stylectl.pipelines.progress import Reporter, RichReporter
from stylectl.pipelines.stages import STAGE_NAMES


def stage_cell(text: str) -> tuple[str, str] | None:
    """(stage, short state) for one of the runner's stage lines ("distill: done in 3.2s (...)"), else None."""
    stage, sep, rest = text.partition(": ")
    if not sep or stage not in STAGE_NAMES:
        return None
    if rest.startswith("done in "):
        return stage, "done " + rest.split()[2]
    return stage, rest.split()[0].rstrip(",")


class BuildTable:
    """Builds by stages; `apply` the board's events, `finish` a build when its task returns."""

    def __init__(self, labels: list[str], stages: list[str], reporter: Reporter) -> None:
        self.stages, self.reporter = stages, reporter
        self.rows = {label: {"status": "queued", "where": ""} for label in labels}
        self.current: dict[str, str] = {}
        self.printed_tenths: dict[str, int] = {}
        self.live = None

    def __enter__(self) -> "BuildTable":
        if isinstance(self.reporter, RichReporter):
            from rich.live import Live

            self.live = Live(self.render(), console=self.reporter.console, refresh_per_second=4)
            self.live.start()
        return self

    def __exit__(self, *exc) -> None:
        if self.live is not None:
            self.live.update(self.render())
            self.live.stop()

    def apply(self, events: list[tuple[str, str, str]]) -> None:
        for label, kind, text in events:
            row = self.rows[label]
            if kind == "start":
                row["status"], row["where"] = "running", text
            elif kind == "line" and (cell := stage_cell(text)):
                row[cell[0]] = cell[1]
                self.current[label] = cell[0]
            elif kind == "progress" and label in self.current:
                row[self.current[label]] = text
                if self.live is None and not self._new_tenth(label, text):
                    continue
            if self.live is None:
                self.reporter.line(f"[{label}] {text}")
        if self.live is not None:
            self.live.update(self.render())

    def finish(self, result: BuildResult) -> None:
        self.rows[result.label]["status"] = "ok" if result.ok else f"failed: {result.error}"
        if self.live is None:
            self.reporter.line(f"[{result.label}] {self.rows[result.label]['status']}")
        else:
            self.live.update(self.render())

    def render(self):
        from rich.table import Table

        table = Table(title="builds")
        for column in ("build", *self.stages, "status", "where"):
            table.add_column(column)
        for label, row in self.rows.items():
            table.add_row(label, *(row.get(stage, "") for stage in self.stages), row["status"], row["where"])
        return table

    def _new_tenth(self, label: str, text: str) -> bool:
        """Whether a progress line ("distill 120/500") reached a tenth not printed yet."""
        done, _, total = text.rpartition(" ")[2].partition("/")
        tenth = int(done) * 10 // max(1, int(total))
        key = f"{label} {text.rpartition(' ')[0]}"
        if self.printed_tenths.get(key) == tenth:
            return False
        self.printed_tenths[key] = tenth
        return True
