"""How every benchmark publishes its result: print the markdown, then replace the results file
atomically (artifacts.write_atomic), so an interrupted run never leaves half a table behind.
And how the benchmarks that measure a finished build get it (`built_chain`)."""

from __future__ import annotations

import argparse
from pathlib import Path

from stylectl.pipelines.artifacts import write_atomic


def publish(text: str, path: Path) -> None:
    """Print a benchmark's markdown report and write it to ``path``."""
    print(text)
    write_atomic(path, text.encode())


def built_chain(description: str):
    """`--config` (default: the quickstart) and `--checkpoints`, then that config's whole chain built, or
    reused where cached: (args, config, {stage: artifact})."""
    from stylectl.pipelines.config.loading import load_config
    from stylectl.pipelines.progress import PlainReporter
    from stylectl.pipelines.runner import plan_chain, run_stages

    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--config", type=Path, default=Path("configs/quickstart.yaml"))
    parser.add_argument("--checkpoints", type=Path, default=Path("checkpoints"))
    args = parser.parse_args()
    config = load_config(args.config)
    outcomes = {o.stage: o.artifact for o in run_stages(config, plan_chain(None, None, None), args.checkpoints,
                                                        PlainReporter())}
    return args, config, outcomes
