"""Per-layer quantization sensitivity, and the mixed-precision schemes it suggests.

Each conv of the pruned student is quantized alone with the shipped scheme (every other
layer float) and the PSNR of the output against the fp32 student on held-out photos is
recorded: low PSNR = a sensitive layer. Then the most sensitive layers are widened one more
at a time, until the whole scheme meets `quantize.min_psnr_vs_fp32`, in two ways: kept in
float (`keep_float`, for CPUs and NPUs that fall back to float) and, when the scheme's
activations are 8-bit, given 16-bit activations (`activations_16bit`, for NPUs that run both,
such as Qualcomm's HTP, so the graph stays integer). Each list is ready to paste into a scheme.
"""

from __future__ import annotations

from pathlib import Path

from torch import nn

from stylectl.pipelines import artifacts
from stylectl.pipelines.config import RunConfig
from stylectl.pipelines.data import eval_batch, load_images
from stylectl.pipelines.errors import UserInputError
from stylectl.pipelines.figures import figure_png, pyplot
from stylectl.pipelines.measure.metrics import predict, psnr
from stylectl.pipelines.progress import Reporter
from stylectl.pipelines.quant import pt2e
from stylectl.pipelines.quant.build import calibrate, calibration_crops
from stylectl.pipelines.readers import load_student
from stylectl.pipelines.runner import plan_stage, run_stages


def run_quant_sensitivity(config: RunConfig, checkpoints: Path, reporter: Reporter) -> Path:
    """Build (or reuse) the pruned student, scan it, and return the folder with the results."""
    scheme = config.quantize.shipped()
    if scheme.kind != "int" or scheme.method != "ptq":
        raise UserInputError(f"quantize.ship: --sensitivity needs an int PTQ scheme, and '{scheme.name}' is not")
    prune = run_stages(config, plan_stage("prune"), checkpoints, reporter)[-1].artifact
    model = load_student(prune).eval()
    split = config.data.image_set()
    calibration = calibration_crops(load_images(split.train, config.data.max_side)[0], config)
    heldout = eval_batch(split.heldout, config.data.eval_size)
    reference = predict(model, heldout)

    def quality(only: str | None = None, **widened: list[str]) -> float:
        chosen = scheme.model_copy(update=widened)
        prepared = pt2e.prepare(model, config.data.eval_size, chosen, only=only, calibration=calibration)
        calibrate(prepared, calibration)
        return psnr(predict(pt2e.convert(prepared, chosen), heldout), reference)

    layers = [name for name, module in model.named_modules() if isinstance(module, nn.Conv2d)]
    rows = []
    with reporter.task("quantization sensitivity", len(layers)) as task:
        for index, layer in enumerate(layers):
            rows.append({"layer": layer, "psnr_vs_fp32": quality(only=layer)})
            task.update(index + 1)
    rows.sort(key=lambda row: row["psnr_vs_fp32"])
    ladders = {"keep_float": _ladder(rows, quality, "keep_float", config.quantize.min_psnr_vs_fp32, reporter)}
    if scheme.activation_bits == 8:
        ladders["activations_16bit"] = _ladder(rows, quality, "activations_16bit", config.quantize.min_psnr_vs_fp32,
                                               reporter)
    result = {"scheme": scheme.name, "budget_psnr_vs_fp32": config.quantize.min_psnr_vs_fp32, "rows": rows,
              "mixed_precision": ladders["keep_float"], "suggested_keep_float": ladders["keep_float"][-1]["keep_float"]}
    if "activations_16bit" in ladders:
        result.update(mixed_16bit=ladders["activations_16bit"],
                      suggested_activations_16bit=ladders["activations_16bit"][-1]["activations_16bit"])
    folder = checkpoints / config.name / "quantize-sensitivity" / prune.key
    artifacts.write_json_atomic(folder / "sensitivity.json", result)
    artifacts.write_atomic(folder / "sensitivity.md", _markdown(result).encode())
    artifacts.write_atomic(folder / "sensitivity.png", _plot(rows))
    return folder


def _ladder(rows: list[dict], quality, field: str, budget: float, reporter: Reporter) -> list[dict]:
    """Widen the most sensitive layers one more at a time (`field`: keep_float or activations_16bit)
    until the scheme reaches `budget` dB; each step's list and PSNR."""
    widened: list[str] = []
    steps = [{field: [], "psnr_vs_fp32": quality()}]
    while steps[-1]["psnr_vs_fp32"] < budget and len(widened) < len(rows):
        widened.append(rows[len(widened)]["layer"])
        steps.append({field: list(widened), "psnr_vs_fp32": quality(**{field: widened})})
        reporter.line(f"  {field} {len(widened)} layer(s): {steps[-1]['psnr_vs_fp32']:.2f} dB")
    return steps


def _markdown(result: dict) -> str:
    lines = [f"Scheme `{result['scheme']}` applied to one layer at a time (all others float); PSNR of the output "
             "against the fp32 student on held-out photos; most sensitive first.", "",
             "| layer | PSNR vs fp32 |", "|---|---|"]
    lines += [f"| {row['layer']} | {row['psnr_vs_fp32']:.2f} dB |" for row in result["rows"]]
    for field, key, suggestion in (("keep_float", "mixed_precision", "suggested_keep_float"),
                                   ("activations_16bit", "mixed_16bit", "suggested_activations_16bit")):
        if key not in result:
            continue
        what = "kept in float" if field == "keep_float" else "with 16-bit activations"
        lines += ["", f"Mixed precision for a budget of {result['budget_psnr_vs_fp32']} dB, layers {what}:", "",
                  f"| layers {what} | PSNR vs fp32 |", "|---|---|"]
        lines += [f"| {', '.join(step[field]) or '(none)'} | {step['psnr_vs_fp32']:.2f} dB |" for step in result[key]]
        met = result[key][-1]["psnr_vs_fp32"] >= result["budget_psnr_vs_fp32"]
        lines += ["", f"Suggested: `{field}: {result[suggestion]}`" if met
                  else f"The budget is not met even with every layer {what}."]
    return "\n".join(lines) + "\n"


def _plot(rows: list[dict]) -> bytes:
    plt = pyplot()

    figure, axes = plt.subplots(figsize=(7, 0.3 * len(rows) + 1.5))
    finite = [row["psnr_vs_fp32"] for row in rows if row["psnr_vs_fp32"] != float("inf")] or [0.0]
    # a layer whose quantization changes nothing scores inf dB: drawn as the longest bar
    axes.barh(range(len(rows)), [min(row["psnr_vs_fp32"], max(finite) + 10) for row in rows])
    axes.set_yticks(range(len(rows)), [row["layer"] for row in rows])
    axes.invert_yaxis()
    axes.set_xlabel("PSNR vs fp32 student (dB) with only this layer quantized (lower = more sensitive)")
    figure.tight_layout()
    return figure_png(figure, dpi=110)
