"""Which teacher is worth distilling on a CPU? (issue 33)

For each built-in painting, three teachers built by train-teacher from benchmarks/teachers.yaml:
- `scratch`: a fast-neural-style network trained from random weights with the CPU-sized recipe
  (width 16, 3 residual blocks, 200 steps of 2 crops: what the quickstart used to train);
- `pretrained`: the arbitrary-style network as is (`teacher.pretrained: arbitrary`), no training;
- `fine-tuned`: that network fine-tuned on the painting with the same perceptual loss
  (`teacher.init: arbitrary`), at two lengths and two content weights.

Per teacher, on the 3 held-out photos at 256x256 with evaluate's layers: the Gram (style) distance
to the painting and the VGG content distance to the photo (lower is closer for both), and the
stage's wall seconds on this machine. One grid per painting: photo | painting | each teacher.

Usage: .venv/bin/python benchmarks/teachers.py [--styles great_wave,...]
Writes benchmarks/RESULTS-teachers.md and benchmarks/teachers/<style>.png.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from stylectl.pipelines.assets import BUILTIN_STYLES
from stylectl.pipelines.config import EvaluateConfig
from stylectl.pipelines.config.loading import load_config
from stylectl.pipelines.data import eval_batch, resolve_content, square_crop, style_tensor
from stylectl.pipelines.measure.grid import save_grid
from stylectl.pipelines.measure.metrics import predict
from stylectl.pipelines.models.vgg import VGGFeatures
from stylectl.pipelines.progress import PlainReporter
from stylectl.pipelines.readers import load_teacher
from stylectl.pipelines.report.cells import machine
from stylectl.pipelines.runner import plan_stage, run_stages
from stylectl.pipelines.train.losses import feature_distance, style_grams, style_loss

from results import publish

HERE = Path(__file__).parent
SCRATCH = ["teacher.width=16", "teacher.res_blocks=3", "teacher.steps=200", "teacher.batch_size=2", "teacher.lr=0.002"]


def _fine_tune(steps: int, content_weight: float) -> list[str]:
    return ["teacher.init=arbitrary", f"teacher.steps={steps}", "teacher.batch_size=2", "teacher.lr=0.0005",
            f"teacher.content_weight={content_weight}"]


# content weight 1 is the scratch recipe's loss; 3 holds the photo's content while the texture moves to the painting's
TEACHERS: dict[str, list[str]] = {
    "scratch (200 steps)": SCRATCH,
    "pretrained": ["teacher.pretrained=arbitrary"],
    "fine-tuned (50 steps, content x3)": _fine_tune(50, 3.0),
    "fine-tuned (150 steps, content x3)": _fine_tune(150, 3.0),
    "fine-tuned (150 steps, content x1)": _fine_tune(150, 1.0),
}


def distances(output: torch.Tensor, photos: torch.Tensor, style: torch.Tensor, vgg: VGGFeatures,
              layers: EvaluateConfig) -> dict[str, float]:
    """evaluate's style distance (to the painting) and content distance (to the photo)."""
    with torch.no_grad():
        features = vgg(output)
        return {"style_distance": float(style_loss(features, style_grams(vgg, style, layers.style_layers))),
                "content_distance": float(feature_distance(features, vgg(photos, layers.content_layers), layers.content_layers))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=HERE / "teachers.yaml")
    parser.add_argument("--checkpoints", type=Path, default=Path("checkpoints"))
    parser.add_argument("--styles", default=",".join(BUILTIN_STYLES))
    args = parser.parse_args()
    layers = EvaluateConfig()
    vgg = VGGFeatures(sorted({*layers.style_layers, *layers.content_layers})).eval()
    rows = []
    for style_name in args.styles.split(","):
        columns = {}
        for teacher_name, overrides in TEACHERS.items():
            slug = "".join(ch for ch in teacher_name if ch.isalnum())
            config = load_config(args.config, [f"name=teachers-{style_name}-{slug}",
                                               f"style.image=builtin:{style_name}", *overrides])
            outcome = run_stages(config, plan_stage("train-teacher"), args.checkpoints, PlainReporter())[-1]
            photos = eval_batch(resolve_content(config.data.content, config.data.holdout_fraction).heldout, 256)
            style = style_tensor(config.style.image, config.style.size)
            if not columns:
                columns = {"photo": photos, "painting": square_crop(style, 256)[None].expand(len(photos), -1, -1, -1)}
            output = predict(load_teacher(outcome.artifact), photos)
            columns[teacher_name] = output
            seconds = outcome.artifact.manifest["timing"]["seconds"]  # the run that built it, also when cached
            rows.append({"style": style_name, "teacher": teacher_name, "seconds": seconds,
                         **distances(output, photos, style, vgg, layers)})
        save_grid(columns, HERE / "teachers" / f"{style_name}.png", palette=True)
        publish(markdown(rows), HERE / "RESULTS-teachers.md")


def markdown(rows: list[dict]) -> str:
    info = machine()
    lines = ["# Teachers on a CPU: from scratch, pretrained, fine-tuned (issue 33)", "",
             "Command: `.venv/bin/python benchmarks/teachers.py` (config benchmarks/teachers.yaml, seed 0, one run each)",
             f"Machine: {info['cpu']}, {info['cores']} cores, no GPU.",
             "Held-out photos (3) at 256x256, evaluate's layers: style = Gram distance to the painting (relu1_1..relu5_1, "
             "VGG 0-255 scale), content = relu4_1 feature distance to the photo; lower is closer for both. "
             "Seconds: the train-teacher stage's wall time on this machine.", "",
             "| painting | teacher | style distance | vs pretrained | content distance | vs pretrained | seconds |",
             "|---|---|---|---|---|---|---|"]
    pretrained = {row["style"]: row for row in rows if row["teacher"] == "pretrained"}
    for row in rows:
        base = pretrained.get(row["style"])
        changes = [f"{(row[key] - base[key]) / base[key] * 100:+.0f}%" if base and row is not base else "-"
                   for key in ("style_distance", "content_distance")]
        lines.append(f"| {row['style']} | {row['teacher']} | {row['style_distance']:.3g} | {changes[0]} | "
                     f"{row['content_distance']:.3g} | {changes[1]} | {row['seconds']:.0f} |")
    lines += ["", "Grids: benchmarks/teachers/<painting>.png (photo | painting | each teacher).", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
