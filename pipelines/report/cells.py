"""The cells every report shares: its columns and their headers, how a value is written,
and the machine the numbers were measured on (report.md, report.html, the terminal summary)."""

from __future__ import annotations

import os
import platform
from pathlib import Path

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


def format_value(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) < 100 else f"{value:.0f}"
    return str(value)


def with_unit(value, unit: str) -> str:
    """A formatted value and its unit ('0.4 MB'), or the value alone when it has none."""
    return f"{format_value(value)} {unit}" if unit else format_value(value)


def gate_worst(row: dict) -> str:
    """A gate's worst measured value and where it was measured, or '-'."""
    if row["worst"] is None:
        return "-"
    where = f" ({row['worst_artifact']})" if row["worst_artifact"] else ""
    return with_unit(row["worst"], row["unit"]) + where


FLICKER_NOTE = ("Flicker: warping error (Lai et al. 2018), the mean squared difference (0-1 range) between each "
                "stylized frame and the previous one moved by the clip's exact motion, on pixels seen in both; "
                "lower is steadier. Clips: a window panning or zooming across each held-out photo.")


def flicker_table(temporal: dict) -> tuple[list[str], list[list[str]]]:
    """The flicker table's header and rows: each model's mean warping error, its ratio to the teacher's,
    then each clip's."""
    header = ["artifact", "warping error", "x teacher", *temporal["clips"]]
    rows = [[row["artifact"], format_value(row["warping_error"]), format_value(row["vs_teacher"]),
             *(format_value(row["per_clip"][clip]) for clip in temporal["clips"])] for row in temporal["rows"]]
    return header, rows
