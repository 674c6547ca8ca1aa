"""quantize: build every scheme of the YAML on the (pruned) student, and compare them on equal terms.

All schemes see the same calibration crops (training photos, at the evaluation size) and
are scored on the same held-out photos, against the fp32 student (what quantization alone
costs) and against the teacher (what the user sees). ONNX Runtime's own static
quantization is scored alongside as the reference. The shipped scheme is what export and
evaluate use.
"""

from __future__ import annotations

import shutil

import torch

from stylectl.pipelines.context import StageContext
from stylectl.pipelines.data import eval_batch, load_images
from stylectl.pipelines.measure.latency import run_onnx
from stylectl.pipelines.measure.metrics import predict, psnr, ssim
from stylectl.pipelines.quant import compare, qat
from stylectl.pipelines.quant.build import build_scheme, calibration_crops, state_file
from stylectl.pipelines.quant.ort_reference import quantize_reference
from stylectl.pipelines.readers import (ORT_REFERENCE_FILE, QUANTIZED_FP32_FILE, load_student, load_teacher,
                                        student_file, write_calibration, write_shipped)
from stylectl.pipelines.train.datamodule import RandomCropDataset
from stylectl.pipelines.train.distill_loss import DistillationLoss, loss_style

# QAT trains on other crops than the calibration set (drawn with `seed`), so the ranges it
# learns are not fitted to the very crops PTQ calibrated on.
QAT_CROPS_SEED_OFFSET = 1


def run(ctx: StageContext) -> dict:
    config, settings = ctx.config, ctx.config.quantize
    size = config.data.eval_size
    shutil.copyfile(student_file(ctx.inputs["prune"]), ctx.out_dir / QUANTIZED_FP32_FILE)
    model = load_student(ctx.inputs["prune"]).eval()
    teacher = load_teacher(ctx.inputs["train-teacher"])

    torch.manual_seed(config.seed)
    photos, _ = load_images(ctx.images.train, config.data.max_side)  # calibration and QAT crops come from these
    calibration = calibration_crops(photos, config)
    write_calibration(ctx.out_dir, calibration)
    write_shipped(ctx.out_dir, settings.shipped(), size)
    heldout = eval_batch(ctx.images.heldout, size)
    targets = {"fp32": predict(model, heldout), "teacher": predict(teacher, heldout)}

    def score(output: torch.Tensor) -> dict:
        return {f"{metric.__name__}_vs_{name}": metric(output, target)
                for name, target in targets.items() for metric in (psnr, ssim)}

    def train(prepared) -> float:
        # the prepared graph was traced at one size (no moved frames) and has no feature taps
        student_settings = config.student.model_copy(update={"feature_weight": 0.0, "temporal_weight": 0.0})
        loss = DistillationLoss(prepared, teacher, student_settings,
                                loss_style(config))
        qat_crops = RandomCropDataset(photos, size, scheme.qat_steps * scheme.qat_batch_size,
                                      config.seed + QAT_CROPS_SEED_OFFSET)
        return qat.finetune(loss, scheme, qat_crops, ctx.reporter)

    rows = [{"name": "fp32", "description": "float32 student (no quantization)",
             "weight_bytes": compare.weight_bytes(model, None), **score(targets["fp32"])}]
    simulated = {}
    for scheme in settings.schemes:
        simulated[scheme.name] = build_scheme(model, scheme, size, calibration, train, ctx.reporter,
                                              ctx.out_dir / state_file(scheme))
        rows.append({"name": scheme.name, "description": scheme.describe(),
                     "weight_bytes": compare.weight_bytes(model, scheme),
                     **score(predict(simulated[scheme.name], heldout))})
        ctx.reporter.line(f"  {scheme.name}: PSNR vs fp32 {rows[-1]['psnr_vs_fp32']:.2f} dB")
    if settings.reference:
        path = quantize_reference(model, calibration, size, config.export.opset, ctx.out_dir / ORT_REFERENCE_FILE)
        rows.append({"name": "ort_reference", "description": "onnxruntime quantize_static: QDQ, per-channel int8 "
                     "weights, uint8 activations (min-max)", "weight_bytes": compare.weight_bytes(model, None, bits=8),
                     "file": path.name, **score(run_onnx(path, heldout))})
        ctx.reporter.line(f"  ort_reference: PSNR vs fp32 {rows[-1]['psnr_vs_fp32']:.2f} dB")
    if settings.compare:
        from stylectl.pipelines.export import scheme_matrix
        from stylectl.pipelines.export.formats import FORMATS

        scheme_matrix.add_files(rows, settings.schemes, model, simulated, calibration, heldout, ctx.out_dir, size,
                                config.export.opset, config.export.qnn_soc if "qnn_htp" in config.export.vendor_checks
                                else None, FORMATS["tflite"].resolve({}), ctx.reporter)
    compare.write(rows, ctx.out_dir, with_latency=settings.compare)
    shipped = next(row for row in rows if row["name"] == settings.shipped().name)
    return {"ship": shipped["name"], "scheme": shipped["description"],
            "calibration_images": settings.calibration_images,
            "psnr_vs_fp32": shipped["psnr_vs_fp32"], "ssim_vs_fp32": shipped["ssim_vs_fp32"], "schemes": rows}
