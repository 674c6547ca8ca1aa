"""How a stylectl process knows it is a DDP worker rather than the process that owns the build.

Lightning's `ddp` strategy starts its extra processes by re-running the same command line
with LOCAL_RANK set; on other nodes the user starts the command with NODE_RANK set. Such a
worker must join the training of one stage and nothing else: it takes no build lock,
publishes nothing and exits once that stage's training returns.
"""

from __future__ import annotations

import os

STAGE_ENV = "STYLECTL_DDP_STAGE"  # set by the owning process around each stage


def rank_env() -> tuple[int, int]:
    """(node rank, local rank) from the launcher's environment; (0, 0) when not launched."""
    return int(os.environ.get("NODE_RANK", "0") or 0), int(os.environ.get("LOCAL_RANK", "0") or 0)


def is_worker() -> bool:
    return rank_env() != (0, 0)
