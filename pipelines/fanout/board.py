"""The fan-out's notice board: an actor the build tasks post their progress to, and the driver reads.

Workers print into their own log files on whichever machine runs them; what the driver shows
comes from here instead, so one table covers the whole cluster. The board also counts each
build's attempts: a build that starts a second time was retried after its worker died, and
continues from its training checkpoint.
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from typing import Iterator

import ray

# Progress bars post at most this often (seconds): enough for a live table, little traffic.
PROGRESS_EVERY = 1.0


@ray.remote(num_cpus=0)
class Board:
    """Events (label, kind, text) in arrival order, and each build's number of starts."""

    def __init__(self) -> None:
        self.events: list[tuple[str, str, str]] = []
        self.starts: dict[str, int] = {}

    def started(self, label: str, where: str) -> int:
        self.starts[label] = self.starts.get(label, 0) + 1
        self.events.append((label, "start", f"attempt {self.starts[label]} on {where}"))
        return self.starts[label]

    def post(self, label: str, kind: str, text: str) -> None:
        self.events.append((label, kind, text))

    def drain(self) -> list[tuple[str, str, str]]:
        events, self.events = self.events, []
        return events

    def attempts(self) -> dict[str, int]:
        return dict(self.starts)


class BoardReporter:
    """The Reporter a build task runs with: every line, warning and progress step goes to the board."""

    def __init__(self, board, label: str) -> None:
        self.board, self.label = board, label

    def line(self, message: str) -> None:
        self.board.post.remote(self.label, "line", message)

    def warn(self, message: str) -> None:
        self.board.post.remote(self.label, "warn", message)

    @contextmanager
    def task(self, description: str, total: int) -> Iterator:
        reporter = self

        class _Task:
            posted = 0.0

            def update(self, completed: int, **fields: float) -> None:
                now = time.monotonic()
                if now - self.posted >= PROGRESS_EVERY or completed == total:
                    self.posted = now
                    reporter.board.post.remote(reporter.label, "progress", f"{description} {completed}/{total}")

        yield _Task()
