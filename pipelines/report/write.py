"""Write the evaluation report: report.json (versioned schema, for CI), report.md and report.html.

report.json schema, version 1:
  schema_version: 1
  build, created_at, machine {cpu, cores, python, platform}
  settings {eval_size, heldout_images, threads, warmup, runs, rounds, latency_boundary (what one timed call
            spans, the same for every runtime), style_layers, content_layers}
  rows: one per artifact, keys in COLUMNS (null when a value does not apply; gram_vs_teacher is the Gram
        distance to the teacher's output, style_distance the one to the style image), plus "kind"
        ("torch", "onnx", "tflite", "coreml" or "pte"), "file", and "note" when a file cannot run here.
        Timed files (measure/latency.py's time_rounds): latency_ms, the median over `rounds` alternating
        rounds of each round's median; latency_min_ms / latency_max_ms, the fastest and slowest round
        median; latency_spread, (max - min) / median; latency_round_ms, the round medians; p90_ms over
        every timed call; speedup_vs_teacher, the median of the per-round ratios teacher (onnx) latency /
        the file's, with speedup_vs_teacher_min / _max their range
  gates {status ("passed", "failed", or "none": no gate configured), passed (false only when a gate
        failed), checked, failures: [text], results: [a row per gate]}
  latency {rounds, busy_spread (the BUSY_SPREAD threshold), busy {artifact: spread above it},
           warning (the line the reports print when `busy` is not empty, else null)}
  preflight: the export stage's NPU pre-flight {targets, findings, findings_per_target, files (a verdict per
    file and target: vendor compiler or rules), vendor_failures, clean, rules}
  temporal {clips: [name], frames, size, rows: [{artifact, warping_error, vs_teacher, per_clip {clip: error}}]}:
        flicker on pan/zoom clips of the held-out photos, the input clips' own row first (added to version 1:
        a new key, nothing renamed). settings.rounds, the rows' latency range keys, gates.status and latency
        were added to version 1 the same way.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

from stylectl.pipelines.artifacts import write_atomic, write_json_atomic
from stylectl.pipelines.measure.latency import BUSY_SPREAD, busy_files, busy_warning
from stylectl.pipelines.report.cells import machine
from stylectl.pipelines.report.html import render
from stylectl.pipelines.report.markdown import markdown

SCHEMA_VERSION = 1


def write_reports(folder: Path, build: str, settings: dict, rows: list[dict], gates: dict, preflight: dict,
                  schemes: list[dict], grid: Path, temporal: dict) -> dict:
    """Write report.json, report.md and the self-contained report.html; return the JSON document."""
    document = {
        "schema_version": SCHEMA_VERSION,
        "build": build,
        "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": machine(),
        "settings": settings,
        "rows": rows,
        "gates": gates,
        "preflight": preflight,
        "temporal": temporal,
        "latency": latency_health(rows, settings.get("rounds", 1)),
    }
    write_json_atomic(folder / "report.json", document)
    write_atomic(folder / "report.md", markdown(document).encode())
    write_atomic(folder / "report.html", render(document, grid.read_bytes(), schemes).encode())
    return document


def latency_health(rows: list[dict], rounds: int) -> dict:
    """Whether the machine was quiet while the files were timed: the files whose round medians
    spread more than BUSY_SPREAD, and the warning line the reports print for them."""
    spreads = {row["artifact"]: row.get("latency_spread") for row in rows}
    return {"rounds": rounds, "busy_spread": BUSY_SPREAD, "busy": busy_files(spreads), "warning": busy_warning(spreads)}
