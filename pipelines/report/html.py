"""report.html: one self-contained page (images inlined as data URIs) a reviewer reads at a
glance: the sample grid, latency against quality with the Pareto front, the artifact
table, flicker on pan/zoom clips, the quantization scheme comparison, the gates and the NPU pre-flight."""

from __future__ import annotations

import base64
import html

from stylectl.pipelines.figures import figure_png, pareto_front, pyplot
from stylectl.pipelines.report.cells import (COLUMNS, FLICKER_NOTE, HEADERS, cell, flicker_table, format_value,
                                             gate_worst, latency_note, with_unit)
from stylectl.pipelines.report.gates import verdict

STYLE = """
body{font-family:system-ui,sans-serif;margin:2em;color:#222;max-width:1400px}
table{border-collapse:collapse;margin:1em 0;font-size:14px}
td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}
td:first-child,th:first-child{text-align:left}
.fail{color:#b00020;font-weight:bold}.pass{color:#1b7f3b;font-weight:bold}.none{color:#666;font-weight:bold}
img{max-width:100%;border:1px solid #ddd}
"""


LABEL_OFFSETS = (4, -12, 16)


def latency_quality_plot(rows: list[dict]) -> bytes | None:
    """PNG: each timed student file's latency against its PSNR vs the teacher, front marked;
    the teacher's own file (which scores against itself) is a vertical line at its latency."""
    plt = pyplot()

    students = [row for row in rows if not row["artifact"].startswith("teacher")]
    points = [(row["artifact"], row["latency_ms"], row["psnr_vs_teacher"]) for row in students
              if row.get("latency_ms") and row.get("psnr_vs_teacher") not in (None, float("inf"))]
    teacher = [row["latency_ms"] for row in rows if row["artifact"].startswith("teacher") and row.get("latency_ms")]
    if not points:
        return None
    front = set(pareto_front(points))
    figure, axis = plt.subplots(figsize=(8, 5))
    # files of one model in different runtimes often land on the same spot: stagger their labels
    for index, (name, latency, quality) in enumerate(sorted(points, key=lambda point: point[1])):
        axis.scatter(latency, quality, color="tab:red" if name in front else "tab:blue", zorder=3)
        axis.annotate(name, (latency, quality), textcoords="offset points", xytext=(4, LABEL_OFFSETS[index % 3]),
                      fontsize=8)
    ordered = sorted((latency, quality) for name, latency, quality in points if name in front)
    axis.plot(*zip(*ordered), color="tab:red", alpha=0.5, label="Pareto front")
    if teacher:
        axis.axvline(teacher[0], color="gray", linestyle="--", label=f"teacher file ({teacher[0]:.3g} ms)")
    axis.set_xscale("log")
    axis.set_xlabel("median latency (ms, log scale)")
    axis.set_ylabel("PSNR vs teacher (dB), held-out photos")
    axis.grid(alpha=0.3)
    axis.legend()
    figure.tight_layout()
    return figure_png(figure, dpi=100)


def _image(png: bytes, alt: str) -> str:
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{base64.b64encode(png).decode()}">'


def _table(header: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{html.escape(cell)}</th>" for cell in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(cell)}</td>" for cell in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _simulated(scheme: dict) -> str:
    """The NPU simulation's PSNR of a scheme (quantize --compare with the QNN HTP check), or why there is none."""
    verdict = scheme.get("qnn")
    if verdict is None:
        return "-"
    if "psnr_vs_fp32" not in verdict:
        return verdict["status"]
    return format_value(verdict["psnr_vs_fp32"])


def render(document: dict, grid_png: bytes, schemes: list[dict]) -> str:
    """The whole page as one string."""
    settings, machine = document["settings"], document["machine"]
    parts = [f"<h1>stylectl report: {html.escape(document['build'])}</h1>",
             f"<p>{settings['heldout_images']} held-out photos at {settings['eval_size']}px; {settings['threads']} "
             f"thread(s), on {html.escape(str(machine['cpu']))} ({machine['cores']} cores). "
             f"{html.escape(latency_note(settings))}. Latency boundary, the same in every "
             f"runtime: {html.escape(settings['latency_boundary'])}. Created {document['created_at']}.</p>"]
    warning = document.get("latency", {}).get("warning")
    if warning:
        parts.append(f'<p class="fail">{html.escape(warning)}</p>')
    gates = document["gates"]
    outcome = verdict(gates)
    style = {"passed": "pass", "FAILED": "fail"}.get(outcome, "none")
    parts.append(f'<h2>Gates: <span class="{style}">{html.escape(outcome)}</span></h2>')
    if gates.get("results"):
        parts.append(_table(["gate", "threshold", "worst measured", "files measured", "status"],
                            [[row["gate"], with_unit(row["threshold"], row["unit"]), gate_worst(row),
                              str(row["measured"]), row["status"]] for row in gates["results"]]))
    parts.append("<ul>" + "".join(f'<li class="fail">{html.escape(f)}</li>' for f in gates["failures"]) + "</ul>")
    parts += ["<h2>Samples</h2>", "<p>One row per held-out photo: content, teacher, every model and file.</p>",
              _image(grid_png, "sample grid")]
    plot = latency_quality_plot(document["rows"])
    if plot:
        parts += ["<h2>Latency against quality</h2>", _image(plot, "latency against quality")]
    parts += ["<h2>Artifacts</h2>", _table([HEADERS.get(column, column) for column in COLUMNS],
                                           [[cell(row, column) for column in COLUMNS] for row in document["rows"]])]
    notes = [f"{row['artifact']}: {row['note']}" for row in document["rows"] if row.get("note")]
    if notes:
        parts.append("<p>Not measured here: " + "; ".join(html.escape(note) for note in notes) + "</p>")
    temporal = document["temporal"]
    parts += ["<h2>Flicker</h2>", f"<p>{html.escape(FLICKER_NOTE)} {temporal['frames']} frames at "
              f"{temporal['size']}px.</p>", _table(*flicker_table(temporal))]
    parts += ["<h2>Quantization schemes</h2>", _table(
        ["scheme", "description", "PSNR vs fp32", "PSNR vs teacher", "SSIM vs teacher", "weights KB",
         "QNN HTP simulated PSNR vs fp32"],
        [[row["name"], row["description"], format_value(row["psnr_vs_fp32"]), format_value(row["psnr_vs_teacher"]),
          format_value(row["ssim_vs_teacher"]), f"{row['weight_bytes'] / 1e3:.1f}", _simulated(row)]
         for row in schemes])]
    parts += npu_section(document["preflight"])
    body = "\n".join(parts)
    return (f"<!doctype html><html><head><meta charset=\"utf-8\"><title>stylectl report: "
            f"{html.escape(document['build'])}</title><style>{STYLE}</style></head><body>\n{body}\n</body></html>\n")


def npu_section(preflight: dict) -> list[str]:
    """Every exported file's verdict on every NPU target (vendor compiler or rules), then the findings."""
    targets = preflight["targets"]
    files = list(dict.fromkeys(verdict["file"] for verdict in preflight["files"]))
    cell = {(verdict["file"], verdict["target"]): verdict for verdict in preflight["files"]}
    confirm = ["verdict from", *(preflight["confirm"][target] for target in targets)]
    parts = ["<h2>NPU targets</h2>",
             "<p>Per file and target: the vendor's compiler where it runs here, else the written rules; "
             "\"-\": the target does not load that file.</p>",
             _table(["file", *targets.values()],
                    [confirm] + [[name, *(_verdict(cell[(name, target)]) for target in targets)] for name in files])]
    if preflight["findings"]:
        parts.append(_table(["target", "rule", "where", "why", "confirm with", "source"],
                            [[f["target"], f["rule"], f["where"], f["why"], f.get("confirm", ""), f["source"]]
                             for f in preflight["findings"]]))
    return parts


def _verdict(verdict: dict) -> str:
    if verdict["by"] == "n/a":
        return "-"
    return {True: "ok - ", False: "NO - ", None: ""}[verdict["ok"]] + verdict["text"]
