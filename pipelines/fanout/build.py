"""One build of a fan-out and what became of it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from stylectl.pipelines.config import RunConfig
from stylectl.pipelines.progress import Reporter
from stylectl.pipelines.runner import Plan, StageOutcome, run_stages


class Build(NamedTuple):
    """A config to run and the label it has in progress and summaries (the points of a sweep share
    one build name, so the label tells them apart)."""

    label: str
    config: RunConfig


@dataclass(frozen=True)
class BuildResult:
    """The stages a build ran or reused, or the one-line reason it failed, with the exit code
    that failure carries (pipelines/errors.py)."""

    label: str
    outcomes: tuple[StageOutcome, ...] = ()
    error: str | None = None
    exit_code: int = 0
    attempts: int = 1

    @property
    def ok(self) -> bool:
        return self.error is None


def run_build(build: Build, plan: Plan, checkpoints: Path, reporter: Reporter, catch: bool = True,
              shared_build: bool = False, attempts: int = 1) -> BuildResult:
    """Run one build's plan; with `catch`, a failure becomes the result instead of stopping the
    builds beside it. Ctrl-C (KeyboardInterrupt) still stops everything."""
    try:
        outcomes = run_stages(build.config, plan, checkpoints, reporter, shared_build=shared_build)
    except Exception as error:  # noqa: BLE001 - any failure of one build is that build's row
        if not catch:
            raise
        reporter.warn(f"failed: {reason(error)}")
        return BuildResult(build.label, error=reason(error), exit_code=getattr(error, "exit_code", 1),
                           attempts=attempts)
    return BuildResult(build.label, tuple(outcomes), attempts=attempts)


def reason(error: BaseException) -> str:
    """The one line the CLI would print for this error."""
    from stylectl.pipelines.errors import StylectlError

    text = str(error).strip().splitlines()[0] if str(error).strip() else ""
    return text if isinstance(error, StylectlError) else f"{type(error).__name__}: {text}".rstrip(": ")
