"""The stage registry: the chain's order, what each stage needs and which config it reads.

This module must stay import-light (no torch): the CLI builds one command per entry at
start-up, and `tests/cli/test_commands.py` checks that the CLI's stage commands equal this
list. A stage module exposes `run(ctx: StageContext) -> dict` returning its metrics.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

if TYPE_CHECKING:
    from stylectl.pipelines.context import StageContext


@dataclass(frozen=True)
class StageInfo:
    """One stage of the chain.

    `sections` are the config sections (or single values, by dotted path) whose values feed
    the cache key: everything the stage reads from the config must be there. `fingerprints`
    name the input files (content photos, style image, an imported ONNX teacher, the pretrained
    teacher's weight files, VGG weights)
    whose bytes feed it too, where the config has them.
    """

    name: str
    module: str
    needs: tuple[str, ...]
    sections: tuple[str, ...]
    fingerprints: tuple[str, ...]
    help: str

    def load(self) -> Callable[["StageContext"], dict]:
        """Import the stage module only when the stage runs (keeps `--help` instant)."""
        return importlib.import_module(f"stylectl.pipelines.stages.{self.module}").run


STAGES: tuple[StageInfo, ...] = (
    StageInfo("train-teacher", "train_teacher", (), ("seed", "data", "style", "teacher"),
              ("data", "style", "teacher_onnx", "pretrained_teacher", "vgg_weights"),
              "Train the teacher with a VGG19 perceptual loss (from scratch or from a pretrained network), or take one as is."),
    StageInfo("distill", "distill", ("train-teacher",), ("seed", "data", "style", "student"), ("data", "style"),
              "Distill the teacher into a small NPU-friendly student."),
    StageInfo("prune", "prune", ("train-teacher", "distill"), ("seed", "data", "style", "student", "prune"),
              ("data", "style"),
              "Remove student channels (torch-pruning) and fine-tune against the teacher."),
    StageInfo("quantize", "quantize", ("train-teacher", "prune"),
              ("seed", "data", "style", "student", "quantize", "export.opset", "export.qnn_soc",
               "export.vendor_checks"), ("data", "style"),
              "Quantize the student with each YAML scheme (PT2E PTQ/QAT, fp16) and compare them with ORT's."),
    StageInfo("export", "export", ("prune", "quantize"), ("data", "export"), ("data",),
              "Write ONNX, TFLite and Core ML files and check they match their torch source."),
    StageInfo("evaluate", "evaluate", ("train-teacher", "distill", "prune", "quantize", "export"),
              ("data", "style", "evaluate", "export.opset"), ("data", "style"),
              "Measure quality, size and latency on held-out photos; write the reports; apply gates."),
)

STAGE_NAMES: tuple[str, ...] = tuple(stage.name for stage in STAGES)


def upstream_closure(name: str) -> list[StageInfo]:
    """The stage and everything it depends on, in chain order."""
    wanted = {name}
    for stage in reversed(STAGES):
        if stage.name in wanted:
            wanted.update(stage.needs)
    return [stage for stage in STAGES if stage.name in wanted]
