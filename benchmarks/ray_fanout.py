"""Many builds (the four styles by default) serially and with `--executor ray`: wall time, and whether
the files match.

Runs `stylectl run CONFIG` three times, each into an empty checkpoints folder: serially with torch's
default threads (what a user gets), serially with OMP_NUM_THREADS=1 (the thread count of a 1-CPU
Ray task, so the reference for bit-for-bit equality), and with `--executor ray` (a local cluster
started by the command, its start included in the time). For each build and stage up to export it
compares the outputs' digests (training logs aside); evaluate is left out because its report
holds the latencies it timed.

Usage: .venv/bin/python benchmarks/ray_fanout.py [--config configs/four_styles.yaml] [--set KEY=VALUE ...]
(`--set` shortens every build alike, e.g. `--set student.steps=200`, when the full length does not fit.)
Writes benchmarks/RESULTS-ray-fanout.md. Run it on a quiet machine: the timings are of one run each.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from stylectl.pipelines.report.cells import machine

from results import publish

HERE = Path(__file__).parent
COMPARED = ("train-teacher", "distill", "prune", "quantize", "export")
RUNS = {"serial": ([], {}), "serial, 1 thread": ([], {"OMP_NUM_THREADS": "1"}), "ray": (["--executor", "ray"], {})}


def _digests(checkpoints: Path) -> dict[str, str]:
    return {str(path.parent.relative_to(checkpoints)): json.loads(path.read_text())["digest"]
            for path in checkpoints.glob("*/*/*/manifest.json") if path.parent.parent.name in COMPARED}


def _run(config: Path, overrides: list[str], checkpoints: Path, flags: list[str], env: dict[str, str]) -> float:
    stylectl = Path(sys.executable).with_name("stylectl")
    sets = [token for override in overrides for token in ("--set", override)]
    started = time.perf_counter()
    done = subprocess.run([str(stylectl), "run", str(config), "--checkpoints", str(checkpoints), "--plain", *sets,
                           *flags],
                          capture_output=True, text=True, env={**os.environ, **env})
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(flags) or 'serial'} failed:\n{done.stderr[-4000:]}")
    return seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=Path("configs/four_styles.yaml"))
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--output", type=Path, default=HERE / "RESULTS-ray-fanout.md")
    args = parser.parse_args()
    seconds, digests = {}, {}
    with tempfile.TemporaryDirectory(prefix="ray-fanout-") as folder:
        for name, (flags, env) in RUNS.items():
            checkpoints = Path(folder) / name.replace(", ", "-").replace(" ", "-")
            seconds[name] = _run(args.config, args.overrides, checkpoints, flags, env)
            digests[name] = _digests(checkpoints)
    same = {name: sum(digests[name].get(key) == value for key, value in digests["ray"].items())
            for name in ("serial", "serial, 1 thread")}
    info = machine()
    lines = [
        f"# Many builds on Ray: {args.config} serially and as Ray tasks", "",
        f"Command: `.venv/bin/python benchmarks/ray_fanout.py --config {args.config}"
        f"{''.join(f' --set {override}' for override in args.overrides)}` (three `stylectl run` commands, "
        "each into an empty checkpoints folder, one after another in the order of the table)",
        f"Machine: {info['cpu']}, {info['cores']} cores, no GPU. Date: {datetime.date.today().isoformat()}. "
        "One run of each.", "",
        "| run | wall time (s) | speed-up vs serial |", "|---|---|---|",
        *(f"| {name} | {value:.0f} | {seconds['serial'] / value:.2f}x |" for name, value in seconds.items()), "",
        f"Stage folders compared (build x stage, {', '.join(COMPARED)}): {len(digests['ray'])}. "
        f"Same digest as the Ray run: serial {same['serial']}, serial with 1 thread {same['serial, 1 thread']}.", "",
    ]
    publish("\n".join(lines), args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
