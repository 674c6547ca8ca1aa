"""quantize: int8 post-training quantization of the (pruned) student in PT2E.

Calibration uses training crops at the evaluation size; fidelity is measured against the
fp32 student on held-out photos, so the number shows what quantization alone costs.
"""

from __future__ import annotations

import shutil

import torch

from stylectl.pipelines.context import StageContext
from stylectl.pipelines.data import eval_batch, load_images
from stylectl.pipelines.datamodule import RandomCropDataset
from stylectl.pipelines.metrics import predict, psnr, ssim
from stylectl.pipelines.models.spec import load_model
from stylectl.pipelines.quant import pt2e

MODEL = "model.safetensors"
OBSERVERS = "observers.safetensors"


def run(ctx: StageContext) -> dict:
    config, settings = ctx.config, ctx.config.quantize
    size = config.data.eval_size
    source = ctx.inputs["prune"].path("student.safetensors")
    shutil.copyfile(source, ctx.out_dir / MODEL)
    model = load_model(source)

    torch.manual_seed(config.seed)
    prepared = pt2e.prepare(model, size)
    images, _ = load_images(ctx.images.train, config.data.max_side)
    crops = RandomCropDataset(images, size, settings.calibration_images, config.seed)
    with torch.no_grad(), ctx.reporter.task("calibrate", len(crops)) as task:
        for index in range(len(crops)):
            prepared(crops[index][None])
            task.update(index + 1)
    observers = pt2e.save_observers(prepared, ctx.out_dir / OBSERVERS)
    quantized = pt2e.convert(prepared)

    heldout = eval_batch(ctx.images.heldout, size)
    reference = predict(model, heldout)
    output = predict(quantized, heldout)
    return {
        "scheme": "int8 static: per-channel symmetric weights, per-tensor affine activations (x86 PT2E quantizer)",
        "calibration_images": settings.calibration_images,
        "observers": observers,
        "psnr_vs_fp32": psnr(output, reference),
        "ssim_vs_fp32": ssim(output, reference),
    }
