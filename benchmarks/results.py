"""How every benchmark publishes its result: print the markdown, then replace the results file
atomically (artifacts.write_atomic), so an interrupted run never leaves half a table behind."""

from __future__ import annotations

from pathlib import Path

from stylectl.pipelines.artifacts import write_atomic


def publish(text: str, path: Path) -> None:
    """Print a benchmark's markdown report and write it to ``path``."""
    print(text)
    write_atomic(path, text.encode())
