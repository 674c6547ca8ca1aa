"""Write the evaluation report: report.json (versioned schema, for CI), report.md and report.html.

report.json schema, version 1:
  schema_version: 1
  build, created_at, machine {cpu, cores, python, platform}
  settings {eval_size, heldout_images, threads, warmup, runs, style_layers, content_layers}
  rows: one per artifact, keys in COLUMNS (null when a value does not apply; gram_vs_teacher is the Gram
        distance to the teacher's output, style_distance the one to the style image), plus "kind"
        ("torch", "onnx", "tflite" or "coreml"), "file", and "note" when a file cannot run here
  gates {passed, failures: [text]}
  preflight: the export stage's NPU pre-flight {targets, findings, findings_per_target, clean, rules}
"""

from __future__ import annotations

import os
import platform
from datetime import datetime, timezone
from pathlib import Path

from stylectl.pipelines.artifacts import write_atomic, write_json_atomic
from stylectl.pipelines.export.preflight import markdown as preflight_markdown

SCHEMA_VERSION = 1
# Columns of report.json rows and report.md, and the shorter set a terminal summary shows.
COLUMNS = ("artifact", "runtime", "psnr_vs_teacher", "ssim_vs_teacher", "gram_vs_teacher", "style_distance",
           "content_distance", "mmacs", "params", "size_mb", "latency_ms", "p90_ms", "speedup_vs_teacher")
SUMMARY_COLUMNS = ("artifact", "psnr_vs_teacher", "ssim_vs_teacher", "mmacs", "size_mb", "latency_ms",
                   "speedup_vs_teacher")
HEADERS = {"psnr_vs_teacher": "PSNR dB", "ssim_vs_teacher": "SSIM", "gram_vs_teacher": "Gram vs teacher",
           "style_distance": "style dist", "content_distance": "content dist", "mmacs": "MMACs", "size_mb": "size MB", "latency_ms": "latency ms",
           "p90_ms": "p90 ms", "speedup_vs_teacher": "speedup"}


def machine() -> dict[str, object]:
    """What the latency numbers were measured on."""
    cpu = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()}


def with_unit(value, unit: str) -> str:
    """A formatted value and its unit ('0.4 MB'), or the value alone when it has none."""
    return f"{format_value(value)} {unit}" if unit else format_value(value)


def gate_worst(row: dict) -> str:
    """A gate's worst measured value and where it was measured, or '-'."""
    if row["worst"] is None:
        return "-"
    where = f" ({row['worst_artifact']})" if row["worst_artifact"] else ""
    return with_unit(row["worst"], row["unit"]) + where


def write_reports(folder: Path, build: str, settings: dict, rows: list[dict], gates: dict, preflight: dict,
                  schemes: list[dict], grid: Path) -> dict:
    """Write report.json, report.md and the self-contained report.html; return the JSON document."""
    from stylectl.pipelines.report_html import render

    document = {
        "schema_version": SCHEMA_VERSION,
        "build": build,
        "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": machine(),
        "settings": settings,
        "rows": rows,
        "gates": gates,
        "preflight": preflight,
    }
    write_json_atomic(folder / "report.json", document)
    write_atomic(folder / "report.md", markdown(document).encode())
    write_atomic(folder / "report.html", render(document, grid.read_bytes(), schemes).encode())
    return document


def format_value(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) < 100 else f"{value:.0f}"
    return str(value)


def markdown(document: dict) -> str:
    """A report that fits a CI job summary: one table, the gates, the machine."""
    settings, machine_info = document["settings"], document["machine"]
    lines = [
        f"# stylectl report: {document['build']}",
        "",
        f"{settings['heldout_images']} held-out photos at {settings['eval_size']}x{settings['eval_size']}; "
        f"PSNR/SSIM against the teacher's output; latency = median of {settings['runs']} runs in each file's runtime "
        f"after {settings['warmup']} warm-up, {settings['threads']} thread(s), on {machine_info['cpu']} "
        f"({machine_info['cores']} cores).",
        "",
        "| " + " | ".join(HEADERS.get(column, column) for column in COLUMNS) + " |",
        "|" + "---|" * len(COLUMNS),
    ]
    lines += ["| " + " | ".join(format_value(row.get(column)) for column in COLUMNS) + " |" for row in document["rows"]]
    notes = [f"- {row['artifact']}: {row['note']}" for row in document["rows"] if row.get("note")]
    lines += ["", "Not measured here:", *notes] if notes else []
    gates = document["gates"]
    lines += ["", "Gates: " + ("passed" if gates["passed"] else "FAILED")]
    if gates.get("results"):
        lines += ["", "| gate | threshold | worst measured | files measured | status |", "|---|---|---|---|---|"]
        lines += [f"| {row['gate']} | {with_unit(row['threshold'], row['unit'])} | {gate_worst(row)} | "
                  f"{row['measured']} | {row['status']} |" for row in gates["results"]]
        lines += [""]
    lines += [f"- {failure}" for failure in gates["failures"]]
    lines += ["", "NPU pre-flight:", "", preflight_markdown(document["preflight"])]
    return "\n".join(lines) + "\n"
