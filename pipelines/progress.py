"""Progress for people and for CI logs from one interface.

On a terminal: rich progress bars on stderr. Elsewhere (CI, pipes): plain lines, about ten
per task, so logs stay readable. stdout is left alone for `--json`.
"""

from __future__ import annotations

import sys
import time
from contextlib import contextmanager
from typing import Iterator, Protocol

from rich.console import Console


class Task(Protocol):
    def update(self, completed: int, **fields: float) -> None: ...


class Reporter(Protocol):
    def line(self, message: str) -> None: ...
    def warn(self, message: str) -> None: ...
    def task(self, description: str, total: int) -> "contextmanager[Task]": ...


def _fields_text(fields: dict[str, float]) -> str:
    return " ".join(f"{name}={value:.4g}" for name, value in fields.items())


class PlainReporter:
    """Line-oriented progress for logs."""

    def __init__(self, stream=None) -> None:
        self.stream = stream or sys.stderr

    def line(self, message: str) -> None:
        print(message, file=self.stream, flush=True)

    def warn(self, message: str) -> None:
        self.line(f"warning: {message}")

    @contextmanager
    def task(self, description: str, total: int) -> Iterator[Task]:
        reporter = self
        started = time.monotonic()

        class _Task:
            every = max(1, round(total / 10))
            next_report = every

            def update(self, completed: int, **fields: float) -> None:
                if completed >= self.next_report or completed == total:
                    self.next_report = completed + self.every
                    reporter.line(f"  {description}: {completed}/{total} {_fields_text(fields)}".rstrip())

        yield _Task()
        reporter.line(f"  {description}: done in {time.monotonic() - started:.1f}s")


class RichReporter:
    """Progress bars for a terminal."""

    def __init__(self) -> None:
        self.console = Console(stderr=True)

    def line(self, message: str) -> None:
        self.console.print(message, highlight=False)

    def warn(self, message: str) -> None:
        self.console.print(f"[yellow]warning:[/] {message}", highlight=False)

    @contextmanager
    def task(self, description: str, total: int) -> Iterator[Task]:
        from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn,
                                   TimeRemainingColumn)

        columns = (TextColumn("  {task.description}"), BarColumn(), MofNCompleteColumn(),
                   TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(), TextColumn("{task.fields[info]}"))
        with Progress(*columns, console=self.console, transient=False) as progress:
            task_id = progress.add_task(description, total=total, info="")

            class _Task:
                def update(self, completed: int, **fields: float) -> None:
                    progress.update(task_id, completed=completed, info=_fields_text(fields))

            yield _Task()


def make_reporter(plain: bool | None = None) -> Reporter:
    """Rich on a terminal, plain lines otherwise (or when asked)."""
    if plain is None:
        plain = not sys.stderr.isatty()
    return PlainReporter() if plain else RichReporter()
