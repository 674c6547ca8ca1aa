"""train-teacher: fit a fast-neural-style network to one style with a VGG19 perceptual loss, from
scratch or from the pretrained arbitrary-style network (`teacher.init`); or take that network as it
is (`teacher.pretrained`), or import the user's ONNX model (`teacher.onnx`)."""

from __future__ import annotations

import shutil

import pytorch_lightning as pl

from stylectl.pipelines.context import StageContext
from stylectl.pipelines.data import eval_batch, load_image, optional_style, resolve_style, style_tensor
from stylectl.pipelines.measure.grid import save_grid
from stylectl.pipelines.measure.metrics import predict
from stylectl.pipelines.models.arbitrary import pretrained_teacher
from stylectl.pipelines.models.cost import count_macs, count_params
from stylectl.pipelines.models.onnx_teacher import OnnxTeacher
from stylectl.pipelines.models.spec import save_model
from stylectl.pipelines.models.teacher import TransformerNet
from stylectl.pipelines.models.vgg import VGGFeatures
from stylectl.pipelines.readers import ONNX_FILE, TORCH_FILE
from stylectl.pipelines.train.datamodule import ContentDataModule
from stylectl.pipelines.train.losses import PerceptualLoss, content_distance, style_distance
from stylectl.pipelines.train.trainer import fit
from stylectl.pipelines.train.training import LearningRate, TeacherModule

GRIDS = "val"


def run(ctx: StageContext) -> dict:
    config, settings = ctx.config, ctx.config.teacher
    if settings.onnx is not None:
        return import_onnx(ctx)
    pl.seed_everything(config.seed, workers=True, verbose=False)
    vgg = VGGFeatures(sorted({*settings.content_layers, *settings.style_layers}), settings.vgg_weights)
    style = style_tensor(config.style.image, config.style.size)
    heldout = eval_batch(ctx.images.heldout, config.data.eval_size)
    if settings.pretrained or settings.init:
        # the predictor's own input: the style image's centre square at its resolution, not `style.size`
        model = pretrained_teacher(load_image(resolve_style(config.style.image)), settings.strength)
    else:
        model = TransformerNet(settings.width, settings.res_blocks, settings.norm)

    def distances() -> dict[str, float]:
        stylized = predict(model.eval(), heldout)
        return {"style_distance": style_distance(vgg, stylized, style, settings.style_layers),
                "content_distance": content_distance(vgg, stylized, heldout, settings.content_layers)}

    before = distances()
    if settings.pretrained:
        return use_pretrained(ctx, model, heldout, before)
    loss = PerceptualLoss(vgg, style, settings.content_layers, settings.style_layers,
                          settings.content_weight, settings.style_weight, settings.tv_weight)
    data = ContentDataModule(ctx.images, config.data.crop_size, settings.batch_size, settings.steps,
                             config.seed, config.data.eval_size, config.data.max_side, settings.augment)
    lr = LearningRate(settings.lr, settings.lr_schedule, settings.steps)
    module = TeacherModule(model, loss, lr, ctx.out_dir / GRIDS, settings.adversarial, style,
                           settings.trainer.gradient_clip_val)
    trainer, progress = fit(ctx, module, data, settings.trainer, settings.steps, "train-teacher")
    if data.skipped:
        ctx.warn(f"skipped {len(data.skipped)} unreadable image(s): {', '.join(p.name for p in data.skipped)}")
    if trainer.is_global_zero:
        save_model(model, ctx.out_dir / TORCH_FILE)
    return {
        "params": count_params(model),
        "macs": count_macs(model, config.data.eval_size),
        "eval_size": config.data.eval_size,
        "final_loss": progress.last_loss,
        "images_per_second": round(progress.images_per_second, 2),
        "world_size": trainer.world_size,
        "skipped_images": len(data.skipped),
        "heldout_before": before,
        "heldout_after": distances(),
    }


def use_pretrained(ctx: StageContext, model, heldout, distances: dict[str, float]) -> dict:
    """Keep the pretrained network with the style's vector as the teacher: nothing to train, so
    the stage saves it, draws its held-out grid and measures it like a trained teacher."""
    save_model(model, ctx.out_dir / TORCH_FILE)
    save_grid({"content": heldout, "teacher": predict(model, heldout)}, ctx.out_dir / GRIDS / "pretrained.png")
    return {
        "pretrained": ctx.config.teacher.pretrained,
        "params": count_params(model),
        "macs": count_macs(model, ctx.config.data.eval_size),
        "eval_size": ctx.config.data.eval_size,
        "style_vector_norm": round(float(model.style_vector.norm()), 4),
        "heldout_after": distances,
    }


def import_onnx(ctx: StageContext) -> dict:
    """Take a user's ONNX model as the teacher: copy it in, check it runs on the held-out photos
    (and at the training crop size, so a fixed-size model fails here rather than in distill)."""
    config, onnx = ctx.config, ctx.config.teacher.onnx
    target = ctx.out_dir / ONNX_FILE
    shutil.copyfile(onnx.file, target)
    teacher = OnnxTeacher(target, onnx.input_range, onnx.output_range, onnx.layout, onnx.inputs, shown_as=onnx.file)
    teacher.check_sizes([config.data.crop_size])  # the held-out pass below checks the evaluation size
    heldout = eval_batch(ctx.images.heldout, config.data.eval_size)
    stylized = teacher(heldout)
    layers = ctx.config.teacher
    vgg = VGGFeatures(sorted({*layers.content_layers, *layers.style_layers}), layers.vgg_weights)
    style = optional_style(config.style.image, config.style.size)
    save_grid({"content": heldout, "teacher": stylized}, ctx.out_dir / GRIDS / "imported.png")
    return {
        "imported_from": onnx.path,
        "macs": teacher.macs(config.data.eval_size),
        "eval_size": config.data.eval_size,
        "heldout_after": {"style_distance": None if style is None else style_distance(vgg, stylized, style,
                                                                                      layers.style_layers),
                          "content_distance": content_distance(vgg, stylized, heldout, layers.content_layers)},
    }
