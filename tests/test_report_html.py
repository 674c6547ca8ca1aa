"""report.html: self-contained, every picture decodes, renders in headless Chromium; gates on
parity and the NPU pre-flight."""

from __future__ import annotations

import base64
import re
import shutil
import subprocess

import pytest

from stylectl.pipelines.figures import pareto_front


def test_pareto_front_keeps_only_undominated_points():
    points = [("slow good", 10.0, 30.0), ("fast bad", 1.0, 20.0), ("dominated", 12.0, 25.0), ("middle", 5.0, 26.0)]
    assert pareto_front(points) == ["slow good", "fast bad", "middle"]


def _report(tiny_build):
    evaluate = next(o for o in tiny_build.outcomes if o.stage == "evaluate")
    return evaluate.artifact.folder / "report.html"


@pytest.mark.slow
def test_report_is_self_contained_with_pictures_and_sections(tiny_build):
    page = _report(tiny_build).read_text()
    sources = re.findall(r'<img alt="[^"]*" src="([^"]+)"', page)
    assert len(sources) == 2  # sample grid, latency-quality plot
    for source in sources:
        assert source.startswith("data:image/png;base64,")
        assert base64.b64decode(source.split(",", 1)[1]).startswith(b"\x89PNG")
    for heading in ("Gates", "Samples", "Latency against quality", "Artifacts", "Flicker", "Quantization schemes",
                    "NPU targets"):
        assert f"<h2>{heading}" in page
    assert "http://" not in page.split("NPU targets")[0]  # nothing fetched from the network
    npu = page.split("<h2>NPU targets</h2>")[1]
    for name in ("student_fp32.onnx", "student_fp16.onnx", "student_int8.onnx"):  # a verdict per file and target
        row = re.search(rf"<tr><td>{name}</td>(.*?)</tr>", npu).group(1)
        assert row.count("<td>") == 5
    assert "ok - QNN HTP compiler for SM8750" in npu


@pytest.mark.slow
@pytest.mark.skipif(not (shutil.which("chromium") or shutil.which("chromium-browser")), reason="needs Chromium")
def test_report_renders_in_headless_chromium(tiny_build, tmp_path):
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    shot = tmp_path / "report.png"
    subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", f"--screenshot={shot}",
                    "--window-size=1400,2000", _report(tiny_build).as_uri()], check=True, capture_output=True,
                   timeout=120)
    assert shot.read_bytes().startswith(b"\x89PNG") and shot.stat().st_size > 20_000


@pytest.mark.slow
def test_parity_and_preflight_gates(cli, tiny_build):
    config, checkpoints, _ = tiny_build
    code, _, err = cli("evaluate", config, "--checkpoints", checkpoints,
                       "--set", "evaluate.gates.preflight_clean=true", "--set", "evaluate.gates.max_parity_error=1e-12")
    assert code == 3
    assert "NPU pre-flight" not in err and "NPU compile check" not in err  # every op int8, every file compiles
    assert "student_int8.onnx: parity_max_abs" in err and "violates max_parity_error=1e-12" in err
