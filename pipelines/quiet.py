"""Silence library chatter that says nothing to a stylectl user.

Lightning's start-up banners and small-data hints, torch.onnx's "torchvision is not
installed" notices, torchao's attempts to load CUDA kernels on a CPU machine: stylectl
reports progress itself, and stdout must stay clean for `--json`. Real warnings and errors
still show.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import warnings
from typing import Iterator

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


@contextlib.contextmanager
def converter_output_silenced() -> Iterator[None]:
    """Send stdout and stderr, Python's and the C++ file descriptors', to /dev/null for a block.

    litert-torch, ai-edge-quantizer, MLIR and coremltools print progress lines and banners
    from Python and from C++; stdout must stay clean for `--json`. Failures still arrive as
    exceptions, which stylectl reports itself.
    """
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    with open(os.devnull, "w") as sink, contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink), \
            warnings.catch_warnings():
        warnings.simplefilter("ignore")
        os.dup2(sink.fileno(), 1)
        os.dup2(sink.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            for descriptor in saved:
                os.close(descriptor)
