"""Silence library chatter that says nothing to a stylectl user.

Lightning's start-up banners and small-data hints, torch.onnx's "torchvision is not
installed" notices, torchao's attempts to load CUDA kernels on a CPU machine: stylectl
reports progress itself, and stdout must stay clean for `--json`. Real warnings and errors
still show.
"""

from __future__ import annotations

import logging
import warnings

QUIET_LOGGERS = {
    "pytorch_lightning": logging.WARNING,
    "lightning.pytorch": logging.WARNING,
    "lightning.fabric": logging.WARNING,
    "lightning_fabric": logging.WARNING,
    "torch.onnx": logging.ERROR,
    "torchao": logging.ERROR,
    "torch.utils._pytree": logging.ERROR,
}
IGNORED_WARNINGS = (
    r".*does not have many workers.*",
    r".*smaller than the logging interval.*",
    r".*`max_epochs` was not set.*",
    r".*val_dataloader` but have no `validation_step.*",
    r".*module\(s\) in eval mode at the start of training.*",
    r".*isinstance\(treespec, LeafSpec\)` is deprecated.*",
)


def quiet_libraries() -> None:
    """Apply the levels and filters above (idempotent; the runner calls it once per stage)."""
    for name, level in QUIET_LOGGERS.items():
        logging.getLogger(name).setLevel(level)
    for pattern in IGNORED_WARNINGS:
        warnings.filterwarnings("ignore", message=pattern)
