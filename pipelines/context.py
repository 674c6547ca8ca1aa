"""What a stage receives: its config, its inputs, a folder to write into, a reporter."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from stylectl.pipelines.artifacts import Artifact
from stylectl.pipelines.config.views import ConfigView
from stylectl.pipelines.progress import Reporter

if TYPE_CHECKING:
    from stylectl.pipelines.data import ImageSet


@dataclass
class StageContext:
    """Everything one stage run may touch.

    A stage reads only the config its cache key hashes (`config` is a view that refuses the
    rest), reads upstream outputs only through `inputs`,
    and writes only under `out_dir` (a temp folder the runner publishes when it succeeds).
    Training checkpoints go to `resume_dir`, which outlives a crash or Ctrl-C so that
    `--resume` (`resume=True`) can continue from it; the runner removes it on success.
    """

    config: ConfigView
    out_dir: Path
    inputs: dict[str, Artifact]
    reporter: Reporter
    resume_dir: Path
    resume: bool = False
    warnings: list[str] = field(default_factory=list)

    @cached_property
    def images(self) -> "ImageSet":
        """The content photos with their train / held-out split."""
        return self.config.data.image_set()

    def warn(self, message: str) -> None:
        """Tell the user now and keep the warning in the manifest."""
        self.warnings.append(message)
        self.reporter.warn(message)
