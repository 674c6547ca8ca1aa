"""Per-layer pruning sensitivity: which layers can lose channels and which must be protected.

Each prunable layer of the distilled student is pruned alone (lowest-L2 channels, no
fine-tune) at each ratio in `prune.sensitivity_ratios`, and the PSNR drop against the
teacher on the held-out photos is recorded. Layers with large drops belong in
`prune.ignore_layers`.
"""

from __future__ import annotations

from pathlib import Path

from stylectl.pipelines import artifacts
from stylectl.pipelines.config import RunConfig
from stylectl.pipelines.data import eval_batch
from stylectl.pipelines.figures import figure_png, pyplot
from stylectl.pipelines.measure.metrics import fidelity
from stylectl.pipelines.models.pruning import prunable_layers, prune_one_layer
from stylectl.pipelines.progress import Reporter
from stylectl.pipelines.readers import load_student, load_teacher
from stylectl.pipelines.runner import plan_stage, run_stages


def run_sensitivity(config: RunConfig, checkpoints: Path, reporter: Reporter) -> Path:
    """Build (or reuse) the distilled student, scan it, and return the folder with the results."""
    outcomes = {o.stage: o.artifact for o in run_stages(config, plan_stage("distill"), checkpoints, reporter)}
    student = load_student(outcomes["distill"])
    teacher = load_teacher(outcomes["train-teacher"])
    heldout = eval_batch(config.data.image_set().heldout, config.data.eval_size)
    base = fidelity(student, teacher, heldout)["psnr_vs_teacher"]
    ratios = config.prune.sensitivity_ratios
    layers = prunable_layers(student, config.prune)
    rows = []
    with reporter.task("sensitivity", len(layers)) as task:
        for index, layer in enumerate(layers):
            drops = {ratio: base - fidelity(prune_one_layer(student, layer, ratio), teacher, heldout)["psnr_vs_teacher"]
                     for ratio in ratios}
            rows.append({"layer": layer, "channels": dict(student.named_modules())[layer].out_channels,
                         "psnr_drop_db": {str(ratio): drop for ratio, drop in drops.items()}})
            task.update(index + 1)
    rows.sort(key=lambda row: -max(row["psnr_drop_db"].values()))
    folder = checkpoints / config.name / "sensitivity" / outcomes["distill"].key
    artifacts.write_json_atomic(folder / "sensitivity.json", {"base_psnr_vs_teacher": base, "ratios": ratios,
                                                              "rows": rows})
    artifacts.write_atomic(folder / "sensitivity.md", _markdown(base, ratios, rows).encode())
    artifacts.write_atomic(folder / "sensitivity.png", _plot(ratios, rows))
    return folder


def _markdown(base: float, ratios: list[float], rows: list[dict]) -> str:
    lines = [f"PSNR drop (dB) vs the unpruned student ({base:.2f} dB vs teacher), one layer pruned at a time, "
             "no fine-tune; most sensitive first.", "",
             "| layer | channels | " + " | ".join(f"{ratio:.0%} removed" for ratio in ratios) + " |",
             "|---|---|" + "---|" * len(ratios)]
    for row in rows:
        drops = " | ".join(f"{row['psnr_drop_db'][str(ratio)]:.2f}" for ratio in ratios)
        lines.append(f"| {row['layer']} | {row['channels']} | {drops} |")
    return "\n".join(lines) + "\n"


def _plot(ratios: list[float], rows: list[dict]) -> bytes:
    plt = pyplot()

    figure, axes = plt.subplots(figsize=(7, 0.35 * len(rows) + 1.5))
    height = 0.8 / len(ratios)
    for offset, ratio in enumerate(ratios):
        values = [row["psnr_drop_db"][str(ratio)] for row in rows]
        axes.barh([index + offset * height for index in range(len(rows))], values, height, label=f"{ratio:.0%}")
    axes.set_yticks([index + 0.4 - height / 2 for index in range(len(rows))], [row["layer"] for row in rows])
    axes.invert_yaxis()
    axes.set_xlabel("PSNR drop vs teacher (dB), pruned alone")
    axes.legend(title="channels removed")
    figure.tight_layout()
    return figure_png(figure, dpi=110)
