"""export: write runtime files for the fp32 and quantized student and prove each matches its source.

Each file is run in its runtime on held-out photos and compared with the torch model it came
from (fp32 file vs fp32 model, the shipped scheme's file vs its PT2E simulation). A variant that fails is a
row with its reason; the others still run; any failure fails the stage at the end.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from torch import nn

from stylectl.pipelines.context import StageContext
from stylectl.pipelines.data import eval_batch
from stylectl.pipelines.errors import StylectlError
from stylectl.pipelines.export.onnx import export_onnx, op_counts
from stylectl.pipelines.latency import run_onnx
from stylectl.pipelines.metrics import max_abs_error, predict, psnr
from stylectl.pipelines.models.spec import load_model
from stylectl.pipelines.quant.build import load_scheme


def run(ctx: StageContext) -> dict:
    config = ctx.config
    size = config.data.eval_size
    quantized = ctx.inputs["quantize"]
    sources: dict[str, Callable[[], nn.Module]] = {
        "fp32": lambda: load_model(ctx.inputs["prune"].path("student.safetensors")),
        config.quantize.shipped().name: lambda: load_scheme(quantized, config),
    }
    heldout = eval_batch(ctx.images.heldout, size)
    rows = []
    for file_format in config.export.formats:
        for variant, build in sources.items():
            path = ctx.out_dir / f"student_{variant}.{file_format}"
            rows.append(_export_one(file_format, variant, build, path, heldout, config.export))
            ctx.reporter.line(f"  {path.name}: {rows[-1]['status']}")
    failed = [row for row in rows if row["status"] != "ok"]
    if failed:
        raise StylectlError("; ".join(f"{row['file']}: {row['reason']}" for row in failed))
    return {"rows": rows}


def _export_one(file_format: str, variant: str, build: Callable[[], nn.Module], path: Path, heldout, settings) -> dict:
    row = {"format": file_format, "variant": variant, "file": path.name, "runtime": "onnxruntime"}
    try:
        model = build()
        export_onnx(model, heldout.shape[-1], settings.opset, path)
        output, reference = run_onnx(path, heldout), predict(model, heldout)
        row.update(bytes=path.stat().st_size, parity_psnr=psnr(output, reference),
                   parity_max_abs=max_abs_error(output, reference), ops=op_counts(path))
        if row["parity_psnr"] < settings.parity_min_psnr:
            row.update(status="failed", reason=f"parity {row['parity_psnr']:.1f} dB < {settings.parity_min_psnr} dB")
        else:
            row["status"] = "ok"
    except Exception as error:  # noqa: BLE001 - a failed variant becomes a row, the others still run
        path.unlink(missing_ok=True)
        row.update(status="failed", reason=f"{type(error).__name__}: {error}")
    return row
