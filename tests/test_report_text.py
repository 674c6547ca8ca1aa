"""report.md, report.html and the terminal summary from a hand-made report: the gates' verdict
(including "no gates configured"), the latency spread and "vs teacher" columns, and the warning
line when the machine was busy while timing."""

from __future__ import annotations

import pytest
from rich.console import Console

from stylectl.cli.summary import _report_lines, _report_table
from stylectl.pipelines.report.html import render
from stylectl.pipelines.report.markdown import markdown
from stylectl.pipelines.report.write import latency_health

SETTINGS = {"eval_size": 32, "heldout_images": 3, "threads": 1, "warmup": 1, "runs": 2, "rounds": 5,
            "latency_boundary": "one call", "style_layers": ["relu1_1"], "content_layers": ["relu2_1"]}
PREFLIGHT = {"targets": {}, "findings_per_target": {}, "files": [], "findings": [], "confirm": {}}
NO_GATES = {"checked": [], "status": "none", "passed": True, "failures": [], "results": []}


def _rows(student_spread: float) -> list[dict]:
    teacher = {"artifact": "teacher (onnx)", "latency_ms": 20.0, "latency_min_ms": 19.0, "latency_max_ms": 21.0,
               "latency_spread": 0.1, "speedup_vs_teacher": 1.0, "speedup_vs_teacher_min": 1.0,
               "speedup_vs_teacher_max": 1.0}
    student = {"artifact": "student int8 (onnx)", "latency_ms": 4.0, "latency_min_ms": 3.8,
               "latency_max_ms": 3.8 + 4.0 * student_spread, "latency_spread": student_spread,
               "speedup_vs_teacher": 5.0, "speedup_vs_teacher_min": 4.5, "speedup_vs_teacher_max": 5.5}
    return [teacher, student]


def _document(rows: list[dict], gates: dict = NO_GATES) -> dict:
    return {"build": "tiny", "created_at": "now", "machine": {"cpu": "cpu", "cores": 2}, "settings": SETTINGS,
            "rows": rows, "gates": gates, "preflight": PREFLIGHT, "latency": latency_health(rows, 5),
            "temporal": {"clips": [], "frames": 8, "size": 32, "rows": []}}


def _summary(metrics: dict) -> str:
    console = Console(width=200, record=True)
    console.print(_report_table(metrics))
    for line in _report_lines(metrics):
        console.print(line, markup=False)
    return console.export_text()


def test_no_gates_configured_is_said_in_every_report():
    document = _document(_rows(0.05))
    assert "Gates: no gates configured" in markdown(document)
    assert "Gates: passed" not in markdown(document)
    assert '<h2>Gates: <span class="none">no gates configured</span></h2>' in render(document, b"", [])
    summary = _summary({"rows": document["rows"], "gates": NO_GATES, "latency_warning": None})
    assert "gates: no gates configured" in summary


def test_spread_and_vs_teacher_columns():
    text = markdown(_document(_rows(0.05)))
    assert "| latency ms | spread ms (min-max) | p90 ms | vs teacher |" in text
    assert "| 4 | 3.8-4 (5%) | - | 5x (4.5-5.5) |" in text
    assert "speedup" not in text
    assert "5 alternating round(s) of 2 runs of each" in text


@pytest.mark.parametrize("spread, busy", [(0.05, False), (0.5, True)])
def test_the_busy_machine_warning_shows_only_when_rounds_spread_widely(spread, busy):
    document = _document(_rows(spread))
    warning = document["latency"]["warning"]
    assert (warning is not None) == busy
    assert document["latency"]["busy"] == ({"student int8 (onnx)": spread} if busy else {})
    summary = _summary({"rows": document["rows"], "gates": NO_GATES, "latency_warning": warning})
    for text in (markdown(document), render(document, b"", []), summary):
        assert ("Warning: the machine was busy while timing" in text) == busy
