"""The cells every report shares: its columns and their headers, how a value is written,
and the machine the numbers were measured on (report.md, report.html, the terminal summary)."""

from __future__ import annotations

import os
import platform
from pathlib import Path

# Columns of report.json rows and report.md, and the shorter set a terminal summary shows.
COLUMNS = ("artifact", "runtime", "psnr_vs_teacher", "ssim_vs_teacher", "gram_vs_teacher", "style_distance",
           "content_distance", "mmacs", "params", "size_mb", "latency_ms", "latency_spread", "p90_ms",
           "speedup_vs_teacher")
SUMMARY_COLUMNS = ("artifact", "psnr_vs_teacher", "ssim_vs_teacher", "mmacs", "size_mb", "latency_ms",
                   "latency_spread", "speedup_vs_teacher")
# What the spread and speed-up cells are written from, beside their columns (evaluate's manifest keeps them too).
RANGE_KEYS = ("latency_min_ms", "latency_max_ms", "speedup_vs_teacher_min", "speedup_vs_teacher_max")
ROW_KEYS = COLUMNS + RANGE_KEYS
# One name per baseline in every table: "vs teacher" is a ratio against the build's own teacher
# (its ONNX file, timed in the same rounds); benchmarks against the classic network say
# "vs classic TransformerNet".
HEADERS = {"psnr_vs_teacher": "PSNR dB", "ssim_vs_teacher": "SSIM", "gram_vs_teacher": "Gram vs teacher",
           "style_distance": "style dist", "content_distance": "content dist", "mmacs": "MMACs", "size_mb": "size MB",
           "latency_ms": "latency ms", "latency_spread": "spread ms (min-max)", "p90_ms": "p90 ms",
           "speedup_vs_teacher": "vs teacher"}


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


def cell(row: dict, column: str) -> str:
    """A row's cell as every table writes it: the latency spread as the round medians' min-max
    and their spread ('3.1-3.4 (9%)'), a speed-up as its median ratio and range ('2.1x (2.0-2.2)'),
    anything else through `format_value`."""
    if column == "latency_spread":
        low, high, spread = row.get("latency_min_ms"), row.get("latency_max_ms"), row.get("latency_spread")
        if low is None or high is None or spread is None:
            return "-"
        return f"{format_value(low)}-{format_value(high)} ({spread:.0%})"
    if column == "speedup_vs_teacher" and row.get(column) is not None:
        low, high = row.get("speedup_vs_teacher_min"), row.get("speedup_vs_teacher_max")
        ranged = f" ({format_value(low)}-{format_value(high)})" if low is not None and high is not None else ""
        return f"{format_value(row[column])}x{ranged}"
    return format_value(row.get(column))


def latency_note(settings: dict) -> str:
    """How the latency, spread and speed-up columns were measured (report.md and report.html)."""
    rounds = settings.get("rounds", 1)
    return (f"Latency: each file in its own runtime, {settings['warmup']} warm-up run(s) of each file, then "
            f"{rounds} alternating round(s) of {settings['runs']} runs of each; latency = the median of the round "
            "medians; spread = the fastest and slowest round median, and (max-min)/median; vs teacher = the "
            "teacher's ONNX file's latency over the file's, round by round (median, min-max)")


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
