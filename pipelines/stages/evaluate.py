"""evaluate: quality, size and speed of every artifact of the build, on held-out photos.

Rows: the teacher, the distilled student, the pruned student and the shipped quantization scheme (in
torch), then the teacher and every exported file in onnxruntime. The teacher's ONNX file is
written here only to time it: latency ratios need a baseline measured in the same run.
"""

from __future__ import annotations

import importlib
from pathlib import Path

import torch
from torch import nn

from stylectl.pipelines.config import GatesConfig
from stylectl.pipelines.context import StageContext
from stylectl.pipelines.data import eval_batch, style_tensor
from stylectl.pipelines.export.formats import FORMATS
from stylectl.pipelines.export.onnx import export_onnx
from stylectl.pipelines.grid import save_grid
from stylectl.pipelines.losses import content_distance, gram_distance, style_distance
from stylectl.pipelines.metrics import predict, psnr, ssim
from stylectl.pipelines.models.cost import count_macs, count_params
from stylectl.pipelines.models.spec import load_model
from stylectl.pipelines.models.vgg import VGGFeatures
from stylectl.pipelines.quant.build import MODEL, load_scheme
from stylectl.pipelines.report import COLUMNS, write_reports
from stylectl.pipelines.teacher_artifact import is_torch_teacher, load_teacher, teacher_file

TEACHER_ONNX = "teacher_fp32.onnx"
GRID = "samples.png"


def run(ctx: StageContext) -> dict:
    config, settings = ctx.config, ctx.config.evaluate
    size = config.data.eval_size
    heldout = eval_batch(ctx.images.heldout, size)
    vgg = VGGFeatures(sorted({*settings.style_layers, *settings.content_layers}))
    style = style_tensor(config.style.image, config.style.size)
    teacher_path = teacher_file(ctx.inputs["train-teacher"])
    teacher = load_teacher(ctx.inputs["train-teacher"])
    reference = predict(teacher, heldout)
    with torch.no_grad():
        reference_features = vgg(reference, settings.style_layers)

    def quality(output: torch.Tensor) -> dict[str, float]:
        with torch.no_grad():  # texture distance to the teacher's output: the look a student must copy
            gram = float(gram_distance(vgg(output, settings.style_layers), reference_features, settings.style_layers))
        return {"psnr_vs_teacher": psnr(output, reference), "ssim_vs_teacher": ssim(output, reference),
                "gram_vs_teacher": gram,
                "style_distance": style_distance(vgg, output, style, settings.style_layers),
                "content_distance": content_distance(vgg, output, heldout, settings.content_layers)}

    distilled_path = ctx.inputs["distill"].path("student.safetensors")
    pruned_path = ctx.inputs["prune"].path("student.safetensors")
    quantized = ctx.inputs["quantize"]
    int8_source = load_model(quantized.path(MODEL))
    int8 = load_scheme(quantized, config)
    pruned = load_model(pruned_path)
    distilled = load_model(distilled_path)
    # (artifact, model that produces the outputs, model whose cost is counted, file or None)
    torch_models: list[tuple[str, nn.Module, nn.Module, Path | None]] = [
        ("teacher", teacher, teacher, teacher_path),
        ("student", distilled, distilled, distilled_path),
        ("pruned student", pruned, pruned, pruned_path),
        (f"{config.quantize.shipped().name} student (sim)", int8, int8_source, None),
    ]
    rows, outputs = [], {"content": heldout}
    for name, model, source, path in torch_models:
        outputs[name] = predict(model, heldout)
        counted = is_torch_teacher(source)
        rows.append({"artifact": name, "runtime": "torch" if counted else "onnxruntime", "kind": "torch",
                     "file": str(path) if path else None,
                     "mmacs": (count_macs(source, size) if counted else source.macs(size)) / 1e6,
                     "params": count_params(source) if counted else None,
                     "size_mb": path.stat().st_size / 1e6 if path else None, **quality(outputs[name])})

    # (name, file, MMACs, the input it takes, its outputs on the held-out photos)
    if is_torch_teacher(teacher):
        export_onnx(teacher, size, config.export.opset, ctx.out_dir / TEACHER_ONNX)
        baseline = (ctx.out_dir / TEACHER_ONNX, heldout[0], None)
    else:  # an imported ONNX teacher is its own baseline (its `inputs` baked in), fed in its own range and layout
        teacher.save_standalone(ctx.out_dir / TEACHER_ONNX)
        baseline = (ctx.out_dir / TEACHER_ONNX, teacher.model_input(heldout[:1])[0], reference)
    export = ctx.inputs["export"]
    files = [("teacher (onnx)", "onnx", {}, *baseline[:2], rows[0]["mmacs"], baseline[2])]
    files += [(_student_file_name(row), row["format"], row["options"],
               export.folder / row["file"], heldout[0], rows[2]["mmacs"], None) for row in export.metrics["rows"]
              if row["status"] == "ok"]
    with ctx.reporter.task("latency", len(files)) as task:
        for index, (name, file_format, options, path, example, mmacs, known_outputs) in enumerate(files):
            row, produced = _runtime_row(name, file_format, options, path, example, mmacs, known_outputs, heldout,
                                         settings, quality)
            rows.append(row)
            if produced is not None and index > 0:  # the teacher's file is the teacher column already
                outputs[name] = produced
            task.update(index + 1)
    save_grid(outputs, ctx.out_dir / GRID)
    teacher_onnx, *student_files = rows[len(torch_models):]
    rows += [{"artifact": _student_file_name(row), "runtime": row.get("runtime"),
              "kind": row["format"], "file": None, "mmacs": None, "params": None, "size_mb": None,
              "note": f"export failed: {row['reason']}"} for row in export.metrics["rows"] if row["status"] != "ok"]
    for row in (teacher_onnx, *student_files):
        if row.get("latency_ms"):
            row["speedup_vs_teacher"] = teacher_onnx["latency_ms"] / row["latency_ms"]

    gates = check_gates(settings.gates, student_files, export.metrics)
    run_settings = {"eval_size": size, "heldout_images": len(heldout), "threads": settings.threads,
                    "warmup": settings.warmup, "runs": settings.runs, "style_layers": settings.style_layers,
                    "content_layers": settings.content_layers}
    write_reports(ctx.out_dir, config.name, run_settings, rows, gates, export.metrics["preflight"],
                  schemes=quantized.metrics["schemes"], grid=ctx.out_dir / GRID)
    return {"rows": [{column: row.get(column) for column in COLUMNS} for row in rows], "gates": gates}


def _student_file_name(export_row: dict) -> str:
    """The report's name for an exported file: 'student int8 (onnx)'."""
    return f"student {export_row['variant']} ({export_row['format']})"


def _runtime_row(name: str, file_format: str, options: dict, path: Path, example, mmacs, known_outputs, heldout,
                 settings, quality) -> tuple[dict, torch.Tensor | None]:
    """Quality and latency of one file in its own runtime, and its outputs; a file that cannot
    run here (Core ML off macOS) gets its size and the reason instead of numbers."""
    module = importlib.import_module(FORMATS[file_format].module)
    size = sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) if path.is_dir() else path.stat().st_size
    row = {"artifact": name, "runtime": FORMATS[file_format].runtime, "kind": file_format, "file": str(path),
           "mmacs": mmacs, "params": None, "size_mb": size / 1e6}
    try:
        timing = module.time(path, example, settings.threads, settings.warmup, settings.runs, options)
    except NotImplementedError as reason:
        return {**row, "note": str(reason)}, None
    produced = known_outputs if known_outputs is not None else module.run(path, heldout, settings.threads, options)
    return {**row, "runtime": timing.get("runtime", row["runtime"]), "latency_ms": timing["median_ms"],
            "p90_ms": timing["p90_ms"], "gmacs_per_s": mmacs / timing["median_ms"] if mmacs else None,
            **quality(produced)}, produced


GATE_CHECKS = (("min_psnr_vs_teacher", "psnr_vs_teacher", min, "dB"), ("min_ssim_vs_teacher", "ssim_vs_teacher", min, ""),
               ("max_latency_ms", "latency_ms", max, "ms"), ("max_size_mb", "size_mb", max, "MB"),
               ("max_parity_error", "parity_max_abs", max, ""))


def check_gates(gates: GatesConfig, rows: list[dict], export: dict) -> dict:
    """Apply each configured threshold to each exported student file, to each file's parity,
    and to the NPU pre-flight.

    Each gate gets a result row (threshold, worst measured value and its file, status). A gate
    that no file could measure (a latency gate when only Core ML files were exported, off
    macOS) fails as "not measured" unless `gates.optional` names it: a CI gate that checks
    nothing must not pass.
    """
    parity = {row["file"]: row.get("parity_max_abs") for row in export["rows"]}
    failures, results = [], []
    for gate, column, kind, unit in GATE_CHECKS:
        limit = getattr(gates, gate)
        if limit is None:
            continue
        if column == "parity_max_abs":
            measured = [(name, value) for name, value in parity.items() if value is not None]
        else:
            measured = [(row["artifact"], row[column]) for row in rows if row.get(column) is not None]
        violations = [(name, value) for name, value in measured
                      if (kind is min and value < limit) or (kind is max and value > limit)]
        failures += [f"{name}: {column} {value:.3g}{f' {unit}' if unit else ''} violates {gate}={limit}"
                     for name, value in violations]
        worst = (min if kind is min else max)(measured, key=lambda item: item[1]) if measured else None
        if not measured:
            status = "not measured (optional)" if gate in gates.optional else "not measured"
            if gate not in gates.optional:
                failures.append(f"{gate}={limit}: not measured (no exported file here has {column}); "
                                "mark it optional in evaluate.gates.optional to allow that")
        else:
            status = "failed" if violations else "passed"
        results.append({"gate": gate, "threshold": limit, "unit": unit, "status": status,
                        "worst": worst[1] if worst else None, "worst_artifact": worst[0] if worst else None,
                        "measured": len(measured)})
    if gates.preflight_clean:
        findings = export["preflight"]["findings"]
        failures += [f"NPU pre-flight ({finding['target']}): {finding['rule']} at {finding['where']}"
                     for finding in findings]
        results.append({"gate": "preflight_clean", "threshold": 0, "unit": "findings",
                        "status": "failed" if findings else "passed", "worst": len(findings),
                        "worst_artifact": None, "measured": 1})
    return {"checked": [result["gate"] for result in results], "passed": not failures, "failures": failures,
            "results": results}
