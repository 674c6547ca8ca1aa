"""evaluate: quality, size and speed of every artifact of the build, on held-out photos.

Rows: the teacher, the distilled student, the pruned student and the shipped quantization scheme (in
torch), then the teacher's ONNX file and every exported file, each in its own runtime. Flicker: the torch
models' warping error on short pan/zoom clips made from the held-out photos (measure/pan_clips.py), beside
the input clips' own; the teacher's is the reference.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from pathlib import Path

import torch
from torch import nn

from stylectl.pipelines.artifacts import tree_bytes
from stylectl.pipelines.context import StageContext
from stylectl.pipelines.data import eval_batch, optional_style, square_crop
from stylectl.pipelines.export.formats import FORMATS
from stylectl.pipelines.measure.grid import save_grid
from stylectl.pipelines.measure.latency import BOUNDARY, Timed, round_ratios, time_rounds
from stylectl.pipelines.measure.metrics import predict, psnr, ssim
from stylectl.pipelines.measure.pan_clips import FRAMES, SOURCE_SCALE, flicker_rows, pan_clips
from stylectl.pipelines.models.cost import count_macs, count_params
from stylectl.pipelines.models.to_onnx import export_onnx
from stylectl.pipelines.models.vgg import VGGFeatures
from stylectl.pipelines.quant.build import quantized_student
from stylectl.pipelines.train.losses import feature_distance, gram_distance, style_grams, style_loss
from stylectl.pipelines.report.cells import ROW_KEYS
from stylectl.pipelines.report.gates import check_gates
from stylectl.pipelines.report.write import write_reports
from stylectl.pipelines.readers import (is_torch_teacher, load_student, load_teacher, quantized_fp32, shipped_scheme,
                                        student_file, teacher_file)

TEACHER_ONNX = "teacher_fp32.onnx"
GRID = "samples.png"


@dataclass(frozen=True)
class TorchModel:
    """A torch row: the model whose outputs are scored, the one whose cost is counted (the
    fp32 source of a quantized simulation), and the file it was loaded from, if any."""

    name: str
    model: nn.Module
    counted: nn.Module
    path: Path | None


@dataclass(frozen=True)
class Candidate:
    """A file run in its own runtime: the teacher's ONNX baseline or one exported student file."""

    name: str
    file_format: str
    variant: str
    options: dict
    path: Path
    example: torch.Tensor  # the one image it is timed on, in the layout and range it takes
    mmacs: float | None
    known_outputs: torch.Tensor | None = None  # outputs already computed (an imported teacher's)


class Scorer:
    """Quality of outputs on the held-out photos: against the teacher's outputs, the style image
    and the photos themselves.

    Every row's output goes through VGG once, for all three distances; what they compare it
    with (the teacher's features, the style image's Grams, the photos' features) is computed once
    here. VGG is most of this stage's time on CPU, and evaluate scores a dozen rows.
    """

    def __init__(self, config, heldout: torch.Tensor, reference: torch.Tensor) -> None:
        self.settings = config.evaluate
        self.reference = reference
        self.vgg = VGGFeatures(sorted({*self.settings.style_layers, *self.settings.content_layers}))
        self.style = optional_style(config.style.image, config.style.size)  # None: an imported teacher without one
        self.style_grams = None if self.style is None else style_grams(self.vgg, self.style, self.settings.style_layers)
        with torch.no_grad():
            self.reference_features = self.vgg(reference, self.settings.style_layers)
            self.heldout_features = self.vgg(heldout, self.settings.content_layers)

    def __call__(self, output: torch.Tensor) -> dict[str, float]:
        style_layers, content_layers = self.settings.style_layers, self.settings.content_layers
        with torch.no_grad():
            features = self.vgg(output)
            # texture distance to the teacher's output: the look a student must copy
            gram = gram_distance(features, self.reference_features, style_layers)
            style = None if self.style_grams is None else float(style_loss(features, self.style_grams))
            content = feature_distance(features, self.heldout_features, content_layers)
        return {"psnr_vs_teacher": psnr(output, self.reference), "ssim_vs_teacher": ssim(output, self.reference),
                "gram_vs_teacher": float(gram), "style_distance": style, "content_distance": float(content)}


def run(ctx: StageContext) -> dict:
    config, settings = ctx.config, ctx.config.evaluate
    heldout = eval_batch(ctx.images.heldout, config.data.eval_size)
    teacher = load_teacher(ctx.inputs["train-teacher"])
    score = Scorer(config, heldout, predict(teacher, heldout))
    # the painting beside the photos, so a reader judges the teacher's look against it, not only the student's
    outputs = {"content": heldout}
    if score.style is not None:
        painting = square_crop(score.style, config.data.eval_size)
        outputs = {"style": painting[None].expand(len(heldout), -1, -1, -1), **outputs}
    models = _torch_models(ctx, teacher)
    rows = []
    for entry in models:
        outputs[entry.name] = predict(entry.model, heldout)
        rows.append(_torch_row(entry, config.data.eval_size, score(outputs[entry.name])))

    temporal = _flicker(ctx, models)

    export = ctx.inputs["export"]
    candidates = [_teacher_candidate(ctx, teacher, heldout, score.reference, rows[0]["mmacs"])]
    candidates += [Candidate(_student_file_name(row), row["format"], row["variant"], row["options"],
                             export.folder / row["file"], heldout[0], rows[2]["mmacs"])
                   for row in export.metrics["rows"] if row["status"] == "ok"]
    timed: dict[str, Timed] = {}
    with ctx.reporter.task("runtime outputs", len(candidates)) as task:
        for index, candidate in enumerate(candidates):
            row, produced, timed_file = _runtime_row(candidate, heldout, settings, score)
            rows.append(row)
            if timed_file is not None:
                timed[candidate.name] = timed_file
            if produced is not None and index > 0:  # the teacher's file is the teacher column already
                outputs[candidate.name] = produced
            task.update(index + 1)
    save_grid(outputs, ctx.out_dir / GRID)
    teacher_onnx, *student_files = rows[len(models):]
    _add_latency(ctx, [teacher_onnx, *student_files], timed, teacher_onnx["artifact"])
    rows += [_failed_export_row(row) for row in export.metrics["rows"] if row["status"] != "ok"]

    gates = check_gates(settings.gates, student_files, export.metrics)
    run_settings = {"eval_size": config.data.eval_size, "heldout_images": len(heldout), "threads": settings.threads,
                    "warmup": settings.warmup, "runs": settings.runs, "rounds": settings.rounds,
                    "latency_boundary": BOUNDARY, "style_layers": settings.style_layers,
                    "content_layers": settings.content_layers}
    document = write_reports(ctx.out_dir, config.name, run_settings, rows, gates, export.metrics["preflight"],
                             schemes=ctx.inputs["quantize"].metrics["schemes"], grid=ctx.out_dir / GRID,
                             temporal=temporal)
    if document["latency"]["warning"]:
        ctx.reporter.line(f"  {document['latency']['warning']}")
    return {"rows": [{key: row.get(key) for key in ROW_KEYS} for row in rows], "gates": gates,
            "latency_warning": document["latency"]["warning"],
            "warping_error": {row["artifact"]: row["warping_error"] for row in temporal["rows"]}}


def _add_latency(ctx: StageContext, rows: list[dict], timed: dict[str, Timed], baseline: str) -> None:
    """Time every runnable file of the build together (measure/latency.py's `time_rounds`: every file
    warmed up, then alternating rounds) and write each row's latency, its spread over rounds and its
    speed-up against `baseline` (the teacher's file), per round."""
    if not timed:
        return
    settings = ctx.config.evaluate
    with ctx.reporter.task("latency rounds", settings.rounds) as task:
        timings = time_rounds({name: entry.call for name, entry in timed.items()}, settings.warmup, settings.runs,
                              settings.rounds, on_round=task.update)
    ratios = round_ratios(timings, baseline) if baseline in timings else {}
    for row in rows:
        timing = timings.get(row["artifact"])
        if timing is None:
            continue
        row.update(latency_ms=timing["median_ms"], latency_min_ms=timing["min_ms"], latency_max_ms=timing["max_ms"],
                   latency_spread=timing["spread"], latency_round_ms=timing["round_ms"], p90_ms=timing["p90_ms"],
                   gmacs_per_s=row["mmacs"] / timing["median_ms"] if row.get("mmacs") else None)
        if row["artifact"] in ratios:
            ratio = ratios[row["artifact"]]
            row.update(speedup_vs_teacher=ratio["median"], speedup_vs_teacher_min=ratio["min"],
                       speedup_vs_teacher_max=ratio["max"])


def _flicker(ctx: StageContext, models: list[TorchModel]) -> dict:
    """Warping error of every torch model on one pan/zoom clip per held-out photo, at the evaluation size."""
    size = ctx.config.data.eval_size
    photos = ctx.images.heldout
    clips = pan_clips(eval_batch(photos, SOURCE_SCALE * size), size, [path.stem for path in photos])
    rows = flicker_rows(clips, {entry.name: partial(predict, entry.model) for entry in models}, models[0].name)
    return {"clips": [clip.name for clip in clips], "frames": FRAMES, "size": size, "rows": rows}


def _torch_models(ctx: StageContext, teacher: nn.Module) -> list[TorchModel]:
    """The teacher, the distilled and the pruned student, and the shipped scheme's simulation."""
    distilled, pruned, quantized = ctx.inputs["distill"], ctx.inputs["prune"], ctx.inputs["quantize"]
    student, pruned_student = load_student(distilled), load_student(pruned)
    return [
        TorchModel("teacher", teacher, teacher, teacher_file(ctx.inputs["train-teacher"])),
        TorchModel("student", student, student, student_file(distilled)),
        TorchModel("pruned student", pruned_student, pruned_student, student_file(pruned)),
        TorchModel(f"{shipped_scheme(quantized).name} student (sim)", quantized_student(quantized),
                   quantized_fp32(quantized), None),
    ]


def _torch_row(entry: TorchModel, size: int, quality: dict) -> dict:
    """A torch model's row; an imported ONNX teacher runs in onnxruntime and counts its own MACs
    (it has no torch parameters to count)."""
    counted = is_torch_teacher(entry.counted)
    return {"artifact": entry.name, "runtime": "torch" if counted else "onnxruntime", "kind": "torch",
            "file": str(entry.path) if entry.path else None,
            "mmacs": (count_macs(entry.counted, size) if counted else entry.counted.macs(size)) / 1e6,
            "params": count_params(entry.counted) if counted else None,
            "size_mb": entry.path.stat().st_size / 1e6 if entry.path else None, **quality}


def _teacher_candidate(ctx: StageContext, teacher: nn.Module, heldout: torch.Tensor, reference: torch.Tensor,
                       mmacs: float) -> Candidate:
    """The teacher as an ONNX file, written here only to time it: latency ratios need a baseline
    measured in the same run. An imported ONNX teacher is its own baseline (its `inputs` baked
    in), fed in its own range and layout."""
    path = ctx.out_dir / TEACHER_ONNX
    if is_torch_teacher(teacher):
        export_onnx(teacher, ctx.config.data.eval_size, ctx.config.export.opset, path)
        return Candidate("teacher (onnx)", "onnx", "fp32", {}, path, heldout[0], mmacs)
    teacher.save_standalone(path)
    return Candidate("teacher (onnx)", "onnx", "fp32", {}, path, teacher.model_input(heldout[:1])[0], mmacs, reference)


def _failed_export_row(export_row: dict) -> dict:
    return {"artifact": _student_file_name(export_row), "runtime": export_row.get("runtime"),
            "kind": export_row["format"], "file": None, "mmacs": None, "params": None, "size_mb": None,
            "note": f"export failed: {export_row['reason']}"}


def _student_file_name(export_row: dict) -> str:
    """The report's name for an exported file: 'student int8 (onnx)'."""
    return f"student {export_row['variant']} ({export_row['format']})"


def _runtime_row(candidate: Candidate, heldout: torch.Tensor, settings,
                 score: Scorer) -> tuple[dict, torch.Tensor | None, Timed | None]:
    """Quality of one file in its own runtime, its outputs, and the file loaded ready to time
    (`_add_latency` times every file together); a file that cannot run here (Core ML off macOS)
    gets its size and the reason instead of numbers."""
    file_format = FORMATS[candidate.file_format]
    module, path = file_format.load(), candidate.path
    size = tree_bytes(path)
    row = {"artifact": candidate.name, "runtime": file_format.runtime, "kind": candidate.file_format,
           "file": str(path), "mmacs": candidate.mmacs, "params": None, "size_mb": size / 1e6}
    not_runnable = module.runnable_here(candidate.variant)
    if not_runnable:
        return {**row, "note": not_runnable}, None, None
    timed = module.prepare(path, candidate.example, settings.threads, candidate.options)
    produced = candidate.known_outputs
    if produced is None:
        produced = module.run(path, heldout, settings.threads, candidate.options)
    return {**row, "runtime": timed.runtime or row["runtime"], **score(produced)}, produced, timed
