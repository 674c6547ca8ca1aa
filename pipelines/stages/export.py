"""export: write a file per format and variant, and prove each computes what its source does.

Formats and their options come from the table in export/formats.py. Each file is run in its
runtime on held-out photos and compared with the torch model it came from (fp32 files with
the fp32 student, fp16 files with the fp16-rounded student, int8 files with their PT2E
simulation). Every ONNX file also goes through the vendor compilers named in `export.vendor_checks`
(export/qnn_htp.py: Qualcomm's QNN HTP backend), whose verdict joins the file's row. A variant that fails is a row with its status and reason, its file removed; the
others are still written, checked and published, the report shows the failed rows, and the
command exits non-zero (cli/summary.py) every time the build is run until the cause is fixed. The NPU pre-flight
(export/preflight.py) is written with every export: preflight.md and the manifest's metrics.
"""

from __future__ import annotations

import math
import shutil
from pathlib import Path

from stylectl.pipelines.artifacts import tree_bytes, write_atomic
from stylectl.pipelines.context import StageContext
from stylectl.pipelines.data import eval_batch
from stylectl.pipelines.export.formats import FORMATS, FormatModule
from stylectl.pipelines.export.preflight import markdown, preflight, vendor_line
from stylectl.pipelines.export.source import ExportSource
from stylectl.pipelines.measure.metrics import max_abs_error, predict, psnr
from stylectl.pipelines.quiet import converter_output_silenced

PREFLIGHT = "preflight.md"


def run(ctx: StageContext) -> dict:
    config = ctx.config
    source = ExportSource(ctx.inputs["quantize"])
    heldout = eval_batch(ctx.images.heldout, config.data.eval_size)
    rows = []
    for name, options in config.export.formats.items():
        for variant in options["variants"]:
            path = ctx.out_dir / f"student_{variant}{FORMATS[name].suffix}"
            rows.append(_export_one(name, variant, source, path, heldout, options, config.export))
            ctx.reporter.line(f"  {path.name}: {rows[-1]['status']}"
                              + (f" ({rows[-1]['reason']})" if rows[-1].get("reason") else ""))
            for check in rows[-1].get("vendor", {}).values():
                ctx.reporter.line(f"    {vendor_line(check)}")
    written = [row for row in rows if row["status"] == "ok"]
    checked = preflight(source.fp32, source.scheme, written)
    write_atomic(ctx.out_dir / PREFLIGHT, markdown(checked).encode())
    ctx.reporter.line(f"  NPU pre-flight: {len(checked['findings'])} finding(s) ({PREFLIGHT})")
    return {"rows": rows, "preflight": checked,
            "failures": [f"{row['file']}: {row['reason']}" for row in rows if row["status"] != "ok"]}


def _export_one(file_format: str, variant: str, source: ExportSource, path: Path, heldout, options: dict,
                settings) -> dict:
    module = FORMATS[file_format].load()
    row = {"format": file_format, "variant": variant, "file": path.name, "options": _file_options(options)}
    try:
        with converter_output_silenced():
            reference = module.write(variant, source, path, options, settings.opset)
        info = module.inspect(path)
        row.update(bytes=tree_bytes(path), **info)
        row.setdefault("runtime", FORMATS[file_format].runtime)
        row.update(_check(module, variant, path, info, reference, heldout, options, settings))
        if row["status"] != "ok":
            _remove(path)  # a file that does not compute what its source does must not be shipped
        elif file_format == "onnx" and "qnn_htp" in settings.vendor_checks:
            from stylectl.pipelines.export import qnn_htp

            with converter_output_silenced():  # QNN's native libraries print to stdout, which --json reserves
                row["vendor"] = {qnn_htp.TARGET: qnn_htp.check(path, variant, heldout, settings.qnn_soc)}
    except Exception as error:  # noqa: BLE001 - a failed variant becomes a row, the others still run
        _remove(path)
        row.update(status="failed", reason=f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}")
    return row


def _check(module: FormatModule, variant: str, path: Path, info: dict, reference, heldout, options: dict,
           settings) -> dict:
    """The file's structure, then its PSNR and max abs error against its torch source (where its
    runtime runs here), checked against the tolerance."""
    problems = module.structure_problems(variant, info)
    not_runnable = module.runnable_here(variant)
    if problems:
        return {"status": "failed", "reason": "; ".join(problems), "parity": not_runnable or "not run"}
    if not_runnable:
        return {"status": "ok", "parity": not_runnable}
    output, expected = module.run(path, heldout, 1, options), predict(reference, heldout)
    result = {"parity_psnr": psnr(output, expected), "parity_max_abs": max_abs_error(output, expected)}
    tolerance = settings.parity_min_psnr_fp32 if variant == "fp32" else settings.parity_min_psnr
    broken = parity_not_finite(result["parity_psnr"], result["parity_max_abs"])
    if broken:
        return {**result, "status": "failed", "parity": "failed", "reason": f"parity {broken} against its torch source"}
    if result["parity_psnr"] < tolerance:
        return {**result, "status": "failed", "parity": "failed",
                "reason": f"parity {result['parity_psnr']:.1f} dB < {tolerance} dB against its torch source"}
    return {**result, "status": "ok", "parity": "ok"}


def parity_not_finite(parity_psnr: float, parity_max_abs: float) -> str | None:
    """Why a parity figure is not a number to compare (NaN passes every `<`), or None when both are.

    A NaN PSNR or a NaN or infinite max error (a file that outputs NaN or inf) fails; +inf PSNR is
    not a failure but the one exact match (mean squared error 0), and then the max error is 0."""
    exact_match = parity_psnr == math.inf and parity_max_abs == 0
    if math.isfinite(parity_psnr) and math.isfinite(parity_max_abs) or exact_match:
        return None
    return f"is not a finite number (PSNR {parity_psnr} dB, max abs error {parity_max_abs})"


def _file_options(options: dict) -> dict:
    return {key: value for key, value in options.items() if key != "variants"}


def _remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)
