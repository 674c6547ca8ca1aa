"""Turn a YAML scheme into a PT2E quantizer.

The annotation work (which convs, adds and activations to quantize, and how they fuse) is
torchao's X86InductorQuantizer, completed by full_integer.py so that every op between input
and output is int8 (what NPUs run; the x86 quantizer alone leaves some in float). stylectl
builds the QuantizationConfig they apply from the scheme's bits, granularity, symmetry and
calibration, plus per-layer overrides (layers kept in float, the output layers calibrated with
min-max).
"""

from __future__ import annotations

import torch
from torch import nn

from stylectl.pipelines.config import SchemeConfig
from stylectl.pipelines.errors import UserInputError

OUTPUT_LAYERS = ("head",)  # the conv that produces the image: its input range must not be clipped


def _weight_spec(scheme: SchemeConfig, qat: bool):
    from torchao.quantization.pt2e import (
        FusedMovingAvgObsFakeQuantize,
        MinMaxObserver,
        MovingAverageMinMaxObserver,
        MovingAveragePerChannelMinMaxObserver,
        PerChannelMinMaxObserver,
    )
    from torchao.quantization.pt2e.quantizer import QuantizationSpec

    per_channel = scheme.weight_granularity == "per_channel"
    qscheme = {(True, True): torch.per_channel_symmetric, (True, False): torch.per_channel_affine,
               (False, True): torch.per_tensor_symmetric, (False, False): torch.per_tensor_affine}[
        (per_channel, scheme.weight_symmetric)]
    if qat:
        observer = FusedMovingAvgObsFakeQuantize.with_args(
            observer=MovingAveragePerChannelMinMaxObserver if per_channel else MovingAverageMinMaxObserver)
    else:
        observer = PerChannelMinMaxObserver if per_channel else MinMaxObserver
    half = 2 ** (scheme.weight_bits - 1)
    return QuantizationSpec(dtype=torch.int8, quant_min=-half, quant_max=half - 1, qscheme=qscheme,
                            ch_axis=0, is_dynamic=False, observer_or_fake_quant_ctr=observer)


def weight_observer(scheme: SchemeConfig):
    """A fresh PTQ observer for the scheme's weights, as PT2E would build it (for bias correction)."""
    spec = _weight_spec(scheme, qat=False)
    channel_axis = {"ch_axis": spec.ch_axis} if scheme.weight_granularity == "per_channel" else {}
    return spec.observer_or_fake_quant_ctr(dtype=spec.dtype, quant_min=spec.quant_min, quant_max=spec.quant_max,
                                           qscheme=spec.qscheme, **channel_axis)


def is_kept_float(layer: str, scheme: SchemeConfig) -> bool:
    """Whether `layer` is one of the scheme's float layers or inside one."""
    return any(layer == name or layer.startswith(name + ".") for name in scheme.keep_float)


def _activation_spec(scheme: SchemeConfig, qat: bool, calibration: str):
    from torchao.quantization.pt2e import (
        FusedMovingAvgObsFakeQuantize,
        HistogramObserver,
        MinMaxObserver,
        MovingAverageMinMaxObserver,
    )
    from torchao.quantization.pt2e.quantizer import QuantizationSpec

    from stylectl.pipelines.quant.observers import EntropyObserver, PercentileObserver

    if scheme.activation_bits is None:
        return None
    bits, symmetric = scheme.activation_bits, scheme.activation_symmetric
    # 16-bit activations are int16 either way (the runtimes have no uint16 kernels); affine
    # then just means a zero point other than 0.
    dtype = torch.int16 if bits == 16 else (torch.int8 if symmetric else torch.uint8)
    quant_min, quant_max = (0, 255) if dtype == torch.uint8 else (int(torch.iinfo(dtype).min), int(torch.iinfo(dtype).max))
    if qat:
        observer = FusedMovingAvgObsFakeQuantize.with_args(observer=MovingAverageMinMaxObserver)
    else:
        observer = {"minmax": MinMaxObserver, "moving_average": MovingAverageMinMaxObserver,
                    "mse": HistogramObserver, "entropy": EntropyObserver,
                    "percentile": PercentileObserver.with_args(percentile=scheme.percentile)}[calibration]
    return QuantizationSpec(dtype=dtype, quant_min=quant_min, quant_max=quant_max,
                            qscheme=torch.per_tensor_symmetric if symmetric else torch.per_tensor_affine,
                            is_dynamic=False, observer_or_fake_quant_ctr=observer)


def activation_observer(scheme: SchemeConfig):
    """The PTQ observer constructor the scheme calibrates activations with (for other quantizers)."""
    return _activation_spec(scheme, qat=False, calibration=scheme.calibration).observer_or_fake_quant_ctr


def quantization_config(scheme: SchemeConfig, qat: bool, calibration: str | None = None):
    """The torchao QuantizationConfig for a scheme (activation calibration overridable per layer)."""
    from torchao.quantization.pt2e.quantizer import QuantizationConfig

    activation = _activation_spec(scheme, qat, calibration or scheme.calibration)
    return QuantizationConfig(activation, activation, _weight_spec(scheme, qat), None, qat)


def check_layers(model: nn.Module, names: list[str], where: str) -> None:
    """Every name must be a student module, so a typo is an error rather than a silent no-op."""
    known = {name for name, _ in model.named_modules() if name}
    unknown = [name for name in names if name not in known]
    if unknown:
        tops = sorted({name.split(".")[0] for name in known})
        raise UserInputError(f"{where}: no student layer named {unknown} (top-level layers: {tops})")


def quantizer_for(model: nn.Module, scheme: SchemeConfig, only: str | None = None):
    """The scheme's PT2E quantizer: every op int8 where the scheme quantizes activations (full_integer.py);
    with `only`, that layer alone is quantized (x86 annotations) and every other layer stays float."""
    from torchao.quantization.pt2e.quantizer.x86_inductor_quantizer import X86InductorQuantizer

    qat = scheme.method == "qat"
    if only is not None:
        return X86InductorQuantizer().set_module_name_qconfig(only, quantization_config(scheme, qat))
    overrides = layer_overrides(scheme)
    if scheme.activation_bits is None:
        # Weight-only: only convs have weights. Set globally, the x86 quantizer would also annotate the
        # global context's multiplies with no activation observer, which prepare_pt2e cannot build.
        quantizer = X86InductorQuantizer().set_module_type_qconfig(nn.Conv2d, quantization_config(scheme, qat))
    else:
        from stylectl.pipelines.quant.full_integer import FullIntegerQuantizer

        config = quantization_config(scheme, qat)
        layer_specs = {name: layer and layer.input_activation for name, layer in overrides.items()}
        image = overrides.get(OUTPUT_LAYERS[0]) or config  # the output layer's min-max under protect_output
        quantizer = FullIntegerQuantizer(config.input_activation, layer_specs, image.output_activation).set_global(config)
    for name, config in overrides.items():
        quantizer.set_module_name_qconfig(name, config)
    return quantizer


def layer_overrides(scheme: SchemeConfig) -> dict:
    """The scheme's per-layer configs on top of its global one, for every quantizer that applies it:
    the output layer calibrated with min-max (`protect_output`), `activations_16bit` layers at 16 bits
    (min-max too for the output layer under `protect_output`), `keep_float` layers None (float)."""
    qat = scheme.method == "qat"
    protected = scheme.protect_output and not qat and scheme.calibration != "minmax" and scheme.activation_bits
    overrides = {name: quantization_config(scheme, qat, calibration="minmax") for name in OUTPUT_LAYERS} if protected else {}
    wide = scheme.model_copy(update={"activation_bits": 16, "activations_16bit": []})
    for name in scheme.activations_16bit:
        overrides[name] = quantization_config(wide, qat, calibration="minmax" if protected and name in OUTPUT_LAYERS
                                              else None)
    return {**overrides, **{name: None for name in scheme.keep_float}}
