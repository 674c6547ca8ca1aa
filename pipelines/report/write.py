"""Write the evaluation report: report.json (versioned schema, for CI), report.md and report.html.

report.json schema, version 1:
  schema_version: 1
  build, created_at, machine {cpu, cores, python, platform}
  settings {eval_size, heldout_images, threads, warmup, runs, latency_boundary (what one timed call spans,
            the same for every runtime), style_layers, content_layers}
  rows: one per artifact, keys in COLUMNS (null when a value does not apply; gram_vs_teacher is the Gram
        distance to the teacher's output, style_distance the one to the style image), plus "kind"
        ("torch", "onnx", "tflite", "coreml" or "pte"), "file", and "note" when a file cannot run here
  gates {passed, failures: [text]}
  preflight: the export stage's NPU pre-flight {targets, findings, findings_per_target, files (a verdict per
    file and target: vendor compiler or rules), vendor_failures, clean, rules}
  temporal {clips: [name], frames, size, rows: [{artifact, warping_error, vs_teacher, per_clip {clip: error}}]}:
        flicker on pan/zoom clips of the held-out photos, the input clips' own row first (added to version 1:
        a new key, nothing renamed)
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

from stylectl.pipelines.artifacts import write_atomic, write_json_atomic
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
    }
    write_json_atomic(folder / "report.json", document)
    write_atomic(folder / "report.md", markdown(document).encode())
    write_atomic(folder / "report.html", render(document, grid.read_bytes(), schemes).encode())
    return document
