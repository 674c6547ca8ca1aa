"""TFLite "16x8" files: int8 weights and int16 activations (w8a16), from a float student.

Why ai-edge-quantizer: litert-torch's own PT2E quantizer (the int8 variant in tflite.py) has
no int16 activation config, so the 16x8 file is made the other way round: the fp32 file the
tflite exporter writes is quantized after conversion, by ai-edge-quantizer's
`static_wi8_ai16` recipe (per-channel symmetric int8 weights, symmetric int16 activations,
int64 biases: the TFLite 16x8 scheme).

Calibration: the given crops are run through the float .tflite and every activation gets the
global min and max over all of them (the recipe's MIN_MAX_UNIFORM_QUANT algorithm, symmetric:
the scale is max(|min|, |max|) / 32767). Not what `Quantizer.calibrate` does by default: it keeps
a moving average of each crop's min/max (0.95 on the past), which lets ranges shrink below what
the crops reached; see `_min_max_ranges`. There is no mse or percentile search: at 16 bits the
full range costs little resolution.

Runtime: TFLite runs 16x8 ops with its reference kernels (XNNPACK has no int16 activation
kernels), so on CPU it is far slower than the int8 file and than fp32 (measured in
benchmarks/RESULTS-scheme-matrix.md). It is for accuracy, and for NPUs with 16-bit
activations, not for CPU speed.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import nn

from stylectl.pipelines.errors import StylectlError
from stylectl.pipelines.export import tflite
from stylectl.pipelines.export.formats import FORMATS
from stylectl.pipelines.export.source import ModelSource
from stylectl.pipelines.models.fold import fold_batchnorm

CALIBRATION_THREADS = 1  # a few crops through a phone-sized model: threads only add contention


def write_w8a16(model: nn.Module, calibration: list[torch.Tensor], image_size: int, path: Path) -> None:
    """Write `model` as a 16x8 .tflite at `path`, atomically.

    The float file comes from tflite.write's fp32 variant with the format's default options
    (NCHW input and output, like the torch model), BatchNorm folded as in every exported file;
    it is written next to `path` and removed.
    Input and output stay int16, as the quantizer makes them (it adds no float edges): feed
    and read them through their scale and zero point (tflite.run does).
    """
    from ai_edge_quantizer import quantizer, recipe

    if not calibration:
        raise ValueError("16x8 TFLite needs calibration crops")
    folded = fold_batchnorm(model)
    _refuse_dead_channels(folded)
    path = Path(path)
    float_path = path.with_name(f".float-{path.name}")
    tmp = path.with_name(f".tmp-{path.name}")
    try:
        tflite.write("fp32", ModelSource(folded, image_size), float_path, FORMATS["tflite"].resolve({}), 0)
        signature, name = _signature_input(float_path)
        samples = [{name: image[None].float().numpy()} for image in calibration]
        ranges = _min_max_ranges(float_path, {signature: samples})
        editor = quantizer.Quantizer(str(float_path), recipe.static_wi8_ai16())
        tmp.write_bytes(bytes(editor.quantize(ranges, enable_progress_report=False).quantized_model))
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
        float_path.unlink(missing_ok=True)


def _refuse_dead_channels(model: nn.Module) -> None:
    """ai-edge-quantizer puts a conv's bias on the grid input_scale * weight_scale in 32 bits (stored
    as int64). An output channel whose weights are all zero gets a weight scale of ~1e-11, and a
    nonzero bias overflows that grid into garbage (a fresh student's global-context gain convs:
    bias 1 came out 0, with numpy "invalid value encountered in cast"). Refused, not written wrong."""
    for name, module in model.named_modules():
        if isinstance(module, nn.Conv2d) and module.bias is not None:
            dead = (module.weight.flatten(1).abs().amax(1) == 0) & (module.bias != 0)
            if dead.any():
                raise StylectlError(f"16x8 TFLite: conv '{name}' has {int(dead.sum())} output channels with all-zero "
                                    "weights and a nonzero bias, which ai-edge-quantizer cannot quantize (the bias "
                                    "overflows); is the student untrained?")


def _signature_input(path: Path) -> tuple[str, str]:
    """The signature key and its image input's name: calibration samples are keyed by both."""
    model, _ = tflite.interpreter(path)
    [(signature, names)] = model.get_signature_list().items()
    [name] = names["inputs"]
    return signature, name


def _min_max_ranges(float_path: Path, samples: dict) -> dict:
    """Each activation's min and max over every sample, as `Quantizer.calibrate` computes them but
    merged with the library's `min_max_update` instead of its default moving average. With the
    moving average, 32 photo crops left a held-out photo clipping in most layers (stem range 2.9
    against 3.9 seen in calibration): 27.5 dB against the float student, where min-max gives 51.5."""
    from ai_edge_quantizer import calibrator, recipe, recipe_manager
    from ai_edge_quantizer.utils import qsv_utils

    manager = recipe_manager.RecipeManager()
    manager.load_quantization_recipe(recipe.static_wi8_ai16())
    calibration = calibrator.Calibrator(str(float_path), num_threads=CALIBRATION_THREADS,
                                        qsv_update_func=qsv_utils.min_max_update)
    calibration.calibrate(samples, manager)
    return calibration.get_model_qsvs()
