"""Sweep one config value over a list: run a stage per value, tabulate and plot the results.

`stylectl distill CONFIG --sweep student.width=0.25,0.5,1.0` trains one student per width
(each its own cache entry, the teacher shared) and writes sweep.json, sweep.md and
sweep.png (quality against MACs) so the smallest student that meets the bar is easy to pick.
"""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from stylectl.pipelines import artifacts
from stylectl.pipelines.config.loading import load_config
from stylectl.pipelines.errors import UserInputError
from stylectl.pipelines.figures import figure_png, pyplot
from stylectl.pipelines.progress import Reporter
from stylectl.pipelines.fanout import Build, BuildResult, run_builds
from stylectl.pipelines.runner import plan_stage

QUALITY, COST = "psnr_vs_teacher", "macs"


def parse_sweep(spec: str) -> tuple[str, list]:
    """'student.width=0.25,0.5' -> ('student.width', [0.25, 0.5]); values are read as YAML."""
    key, sep, raw = spec.partition("=")
    values = [yaml.safe_load(value) for value in raw.split(",") if value.strip()]
    if not sep or not key.strip() or len(values) < 2:
        raise UserInputError(f"--sweep {spec}: expected KEY.PATH=V1,V2[,...] with two or more values")
    return key.strip(), values


def run_sweep(config_path: Path, overrides: list[str], stage: str, spec: str, checkpoints: Path,
              reporter: Reporter, executor: str = "serial",
              address: str | None = None) -> tuple[Path, list[BuildResult]]:
    """Run `stage` once per value (each point a build of the executor, the stages they share built
    once); return the folder holding the table and plot, and every point's result. A failed point
    is a row with its error."""
    key, values = parse_sweep(spec)
    builds = [Build(f"{key}={value}", load_config(config_path, [*overrides, f"{key}={json.dumps(value)}"]))
              for value in values]
    config = builds[0].config
    results = run_builds(builds, plan_stage(stage), checkpoints, reporter, executor, address)
    rows = [_row(key, value, result) for value, result in zip(values, results)]
    slug = artifacts.sha256_bytes(artifacts.canonical_json([stage, key, values, overrides]).encode())[:12]
    folder = checkpoints / config.name / "sweeps" / f"{stage}-{key}-{slug}"
    artifacts.write_json_atomic(folder / "sweep.json", {"stage": stage, "key": key, "rows": rows})
    artifacts.write_atomic(folder / "sweep.md", _markdown(key, rows).encode())
    if all(QUALITY in row and COST in row for row in rows):
        artifacts.write_atomic(folder / "sweep.png", _plot(key, rows))
    return folder, results


def _row(key: str, value, result: BuildResult) -> dict:
    if not result.ok:
        return {key: value, "error": result.error, "folder": None}
    outcome = result.outcomes[-1]
    numbers = {name: metric for name, metric in outcome.artifact.metrics.items()
               if isinstance(metric, (int, float)) and not isinstance(metric, bool)}
    return {key: value, **numbers, "folder": str(outcome.artifact.folder)}


def _markdown(key: str, rows: list[dict]) -> str:
    columns = [key] + list(dict.fromkeys(name for row in rows for name in row if name not in (key, "folder")))
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for row in rows:
        lines.append("| " + " | ".join(_cell(row.get(column)) for column in columns) + " |")
    return "\n".join(lines) + "\n"


def _cell(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return "-" if value is None else str(value)


def _plot(key: str, rows: list[dict]) -> bytes:
    plt = pyplot()

    figure, axes = plt.subplots(figsize=(6, 4))
    macs = [row[COST] / 1e6 for row in rows]
    quality = [row[QUALITY] for row in rows]
    axes.plot(macs, quality, marker="o")
    for row, x, y in zip(rows, macs, quality):
        axes.annotate(f"{key.split('.')[-1]}={row[key]}", (x, y), textcoords="offset points", xytext=(5, 5))
    axes.set_xlabel("MMACs per image (eval size)")
    axes.set_ylabel("PSNR vs teacher (dB)")
    axes.set_title(f"sweep of {key}")
    axes.grid(True, alpha=0.3)
    figure.tight_layout()
    return figure_png(figure, dpi=120)
