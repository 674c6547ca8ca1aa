"""What `make run` does on this machine: the quickstart built from nothing, timed, and its output.

Runs `stylectl run configs/quickstart.yaml` into an empty checkpoints folder (the venv already
installed: `make install` is not timed), records the wall time of the whole command and of each
stage (from the stages' manifests), and keeps the summary the command prints (the stage table,
the evaluation table, the gates line and any busy-machine warning). README.md quotes this file.

Usage: .venv/bin/python benchmarks/make_run.py [--config configs/quickstart.yaml]
Writes benchmarks/RESULTS-make-run.md. Run it on a quiet machine: the latencies in the printed
table are timed in alternating rounds, and the table says when the machine was busy.
"""

from __future__ import annotations

import argparse
import datetime
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from stylectl.pipelines.readers import stage_output
from stylectl.pipelines.report.cells import machine

from results import publish

HERE = Path(__file__).parent
STAGES = ("train-teacher", "distill", "prune", "quantize", "export", "evaluate")


def _summary(stdout: str) -> str:
    """The printed summary: everything from the stage table's title on (progress lines dropped)."""
    lines = stdout.splitlines()
    start = next((index for index, line in enumerate(lines) if line.strip().startswith("build ")), 0)
    return "\n".join(line.rstrip() for line in lines[start:]).strip()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=Path("configs/quickstart.yaml"))
    parser.add_argument("--output", type=Path, default=HERE / "RESULTS-make-run.md")
    args = parser.parse_args()
    stylectl = Path(sys.executable).with_name("stylectl")
    with tempfile.TemporaryDirectory(prefix="make-run-") as folder:
        checkpoints = Path(folder) / "checkpoints"
        started = time.perf_counter()
        done = subprocess.run([str(stylectl), "run", str(args.config), "--checkpoints", str(checkpoints), "--plain"],
                              capture_output=True, text=True)
        seconds = time.perf_counter() - started
        if done.returncode != 0:
            print(done.stdout[-4000:], done.stderr[-4000:], sep="\n")
            return done.returncode
        build = next(path for path in checkpoints.iterdir() if path.is_dir())
        stage_seconds = {}
        for stage in STAGES:
            folders = [path for path in (build / stage).iterdir() if path.is_dir() and not path.name.startswith(".")]
            stage_seconds[stage] = stage_output(folders[0]).manifest["timing"]["seconds"]
    info = machine()
    minutes, rest = divmod(round(seconds), 60)
    lines = [
        "# `make run` from nothing: time and output", "",
        f"Command: `.venv/bin/python benchmarks/make_run.py` (runs `stylectl run {args.config}` into an empty "
        "checkpoints folder; the venv was already installed, so `make install` is not included)",
        f"Machine: {info['cpu']}, {info['cores']} cores, no GPU. Date: {datetime.date.today().isoformat()}. One run.", "",
        f"Wall time of the command: **{seconds:.0f} s** ({minutes} min {rest} s).", "",
        "| stage | seconds |", "|---|---|",
        *(f"| {stage} | {stage_seconds[stage]:.1f} |" for stage in STAGES), "",
        "## What the command printed at the end", "", "```", _summary(done.stdout), "```", "",
    ]
    publish("\n".join(lines), args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
