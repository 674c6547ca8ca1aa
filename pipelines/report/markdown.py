"""report.md: a report that fits a CI job summary."""

from __future__ import annotations

from stylectl.pipelines.export.preflight import markdown as preflight_markdown
from stylectl.pipelines.report.cells import (COLUMNS, FLICKER_NOTE, HEADERS, cell, flicker_table, gate_worst,
                                             latency_note, with_unit)
from stylectl.pipelines.report.gates import verdict


def markdown(document: dict) -> str:
    """A report that fits a CI job summary: one table, the gates, the machine."""
    settings, machine_info = document["settings"], document["machine"]
    lines = [
        f"# stylectl report: {document['build']}",
        "",
        f"{settings['heldout_images']} held-out photos at {settings['eval_size']}x{settings['eval_size']}; "
        f"PSNR/SSIM against the teacher's output; {settings['threads']} thread(s), on {machine_info['cpu']} "
        f"({machine_info['cores']} cores). {latency_note(settings)}. Latency boundary, the same in every runtime: "
        f"{settings['latency_boundary']}.",
        "",
    ]
    warning = document.get("latency", {}).get("warning")
    lines += [f"**{warning}**", ""] if warning else []
    lines += ["| " + " | ".join(HEADERS.get(column, column) for column in COLUMNS) + " |",
              "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(cell(row, column) for column in COLUMNS) + " |" for row in document["rows"]]
    notes = [f"- {row['artifact']}: {row['note']}" for row in document["rows"] if row.get("note")]
    lines += ["", "Not measured here:", *notes] if notes else []
    header, rows = flicker_table(document["temporal"])
    lines += ["", f"{FLICKER_NOTE} {document['temporal']['frames']} frames at {document['temporal']['size']}px.", "",
              "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    gates = document["gates"]
    lines += ["", "Gates: " + verdict(gates)]
    if gates.get("results"):
        lines += ["", "| gate | threshold | worst measured | files measured | status |", "|---|---|---|---|---|"]
        lines += [f"| {row['gate']} | {with_unit(row['threshold'], row['unit'])} | {gate_worst(row)} | "
                  f"{row['measured']} | {row['status']} |" for row in gates["results"]]
        lines += [""]
    lines += [f"- {failure}" for failure in gates["failures"]]
    lines += ["", "NPU pre-flight:", "", preflight_markdown(document["preflight"])]
    return "\n".join(lines) + "\n"

