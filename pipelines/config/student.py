"""The student and how it is made small: distillation, channel pruning and quantization schemes."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from stylectl.pipelines.config.section import Section
from stylectl.pipelines.config.training import (LR_SCHEDULE_HELP, VGG_LAYERS_HINT, AdversarialConfig, AugmentConfig,
                                                LrSchedule, TrainerConfig)


class StudentConfig(Section):
    """The NPU-friendly student and its distillation from the teacher."""

    width: float = Field(1.0, gt=0, le=4, description="Width multiplier of the student's channels.")
    blocks: int = Field(3, ge=1, le=64, description="Inverted-residual blocks at the bottleneck.")
    expansion: float = Field(1.5, gt=0, description="Channel expansion inside each inverted-residual block.")
    head: Literal["pixel_shuffle", "conv"] = Field(
        "pixel_shuffle", description="How features return to full size: pixel_shuffle (a conv at half resolution "
        "and depth-to-space; fastest) or conv (nearest upsample + convs at full resolution).")
    kernel: int = Field(
        3, ge=3, le=9, description="Depthwise kernel of the inverted-residual blocks (odd): 5 or 7 widen the "
        "receptive field, so the student can copy large strokes, for few MACs.")
    dilation: int = Field(
        1, ge=1, le=8, description="Dilation of the blocks' depthwise convs: 2 makes a 3x3 kernel span 5x5, "
        "widening the receptive field at the same MACs (a dilated depthwise conv is a plain conv op to NPUs).")
    low_blocks: int = Field(
        0, ge=0, description="Inverted-residual blocks in a 1/8-resolution stage added back at 1/4 (0: none); "
        "depthwise convs there cost a quarter and see twice as far. Eval sizes must then be multiples of 8.")
    context: bool = Field(
        True, description="Global context in every block: a per-channel scale and shift learned from the "
        "features' global mean and mean square, which is how instance-normalized teachers see the whole photo; "
        "built from average pooling, multiplies, adds and 1x1 convs that int8 NPUs run.")
    skip: bool = Field(
        False, description="Add the half-resolution encoder features to the decoder's (a U-Net skip, one add): the "
        "content's fine edges reach the output without squeezing through the 1/4-resolution bottleneck.")
    steps: int = Field(2000, ge=1, le=10_000_000, description="Optimizer steps.")
    batch_size: int = Field(8, ge=1, le=4096, description="Crops per step (per device).")
    lr: float = Field(2e-3, gt=0, description="Adam learning rate.")
    lr_schedule: LrSchedule = Field("constant", description=LR_SCHEDULE_HELP)
    augment: AugmentConfig = Field(
        default_factory=AugmentConfig, description="Random changes to training crops (distillation and the prune "
        "stage's fine-tunes); the teacher sees the same augmented crop, so its targets stay consistent.")
    pixel_loss: Literal["l1", "l2"] = Field("l1", description="Pixel loss to the teacher's output.")
    pixel_weight: float = Field(1.0, ge=0, description="Weight of the pixel loss to the teacher's output.")
    perceptual_weight: float = Field(0.0, ge=0, description="Weight of the VGG feature loss to the teacher's output.")
    perceptual_layers: list[str] = Field(["relu2_2"], min_length=1, description=f"Layers of that loss: {VGG_LAYERS_HINT}.")
    style_weight: float = Field(0.0, ge=0, description="Weight of the Gram style loss to the style image itself.")
    style_layers: list[str] = Field(
        ["relu1_2", "relu2_2", "relu3_3", "relu4_3"], min_length=1, description=f"Layers of that loss: {VGG_LAYERS_HINT}."
    )
    teacher_gram_weight: float = Field(
        0.0, ge=0, description="Weight of a Gram loss between the student's and the teacher's output of the same "
        "crop (its texture statistics, at student.style_layers); works for ONNX teachers, which have no style image.")
    teacher_gram_crops: int | None = Field(
        None, ge=1, le=4096, description="How many crops of each batch that Gram loss sees (null: all). Per crop, "
        "VGG costs tens of times the student, so a few crops carry the texture signal at a fraction of the time.")
    teacher_gram_normalized: bool = Field(
        False, description="Divide that Gram loss by the teacher's own Gram magnitude (mean square of its Gram "
        "entries, summed over the layers, on the same crops): teachers' textures differ tenfold in scale, and a "
        "relative error lets one weight fit them all (then ~0.1-1 instead of ~1e-6).")
    teacher_gram_start: int = Field(
        0, ge=0, le=10_000_000, description="Optimizer step from which that Gram loss counts: pixel-only before it, "
        "so the student learns the teacher's layout before its texture.")
    feature_weight: float = Field(
        0.0, ge=0, description="Weight of feature-map distillation from teacher taps through learned 1x1 adapters."
    )
    temporal_weight: float = Field(
        0.0, ge=0, description="Weight of a temporal-consistency loss (flicker in videos): the mean squared difference "
        "between the student's output on a randomly shifted and zoomed (+-5%) window of each crop and its output on "
        "the crop, moved the same way and held fixed (0: off). Costs one more student pass per step; evaluate's "
        "warping error measures the flicker that remains.")
    feature_taps: list[str] = Field(
        ["down2", "res_last", "up1"], min_length=1, description="Taps compared: down2, res_last, up1."
    )
    adversarial: AdversarialConfig = Field(
        AdversarialConfig(weight=0.01),
        description="Optional GAN term: a PatchGAN learns to tell teacher output (real) from student output; "
        "the weight is relative to the pixel loss (~0.1).",
    )
    trainer: TrainerConfig = Field(default_factory=TrainerConfig, description="Lightning Trainer settings.")


class PruneConfig(Section):
    """Structured channel pruning of the student (torch-pruning DepGraph), fine-tuned step by step."""

    enabled: bool = Field(True, description="False makes the stage a recorded no-op that passes the student on.")
    target: Literal["macs", "channels"] = Field(
        "macs", description="What `ratio` removes: a share of the MACs, or of every prunable layer's channels."
    )
    ratio: float = Field(0.25, ge=0, lt=1, description="Share of the MACs (or channels) to remove.")
    importance: Literal["l1", "l2", "bn_scale", "taylor"] = Field(
        "l2", description="Channel importance: weight magnitude (L1/L2), BatchNorm scale, or first-order Taylor "
        "on the distillation loss."
    )
    allocation: Literal["uniform", "global"] = Field(
        "uniform", description="Same share from every layer, or rank channels across layers (global)."
    )
    max_layer_ratio: float = Field(0.75, gt=0, lt=1, description="No layer loses more than this share of its channels.")
    ignore_layers: list[str] = Field(
        ["head"], description="Student layer names (or name prefixes) whose output channels are never pruned."
    )
    round_to: int = Field(
        8, ge=1, description="Keep channel counts multiples of this: runtimes compute channels in SIMD blocks "
        "(8 floats on AVX2 and NEON, 16 on AVX-512), so a count just above a multiple costs a whole block.")
    schedule_steps: int = Field(2, ge=1, description="Prune in this many steps, each followed by a fine-tune.")
    finetune_steps: int = Field(200, ge=0, description="Distillation fine-tune steps after each pruning step.")
    batch_size: int = Field(8, ge=1, le=4096, description="Crops per fine-tune step.")
    lr: float = Field(1e-3, gt=0, description="Fine-tune learning rate (scheduled as student.lr_schedule says).")
    sparsity: float = Field(
        0.0, ge=0, lt=1, description="Then zero this share of the remaining conv weights (global magnitude): smaller "
        "compressed files, no speed-up on dense runtimes."
    )
    sensitivity_ratios: list[float] = Field(
        [0.25, 0.5, 0.75], min_length=1, description="Ratios tried per layer by `stylectl prune --sensitivity`."
    )


class SchemeConfig(Section):
    """One quantization scheme: how weights and activations are stored and how ranges are found."""

    name: str = Field(..., pattern=r"^[A-Za-z0-9_.-]+$", description="Short name used in tables and file names.")
    kind: Literal["int", "fp16"] = Field(
        "int", description="int: integer quantization in PT2E; fp16: weights and activations rounded to float16.")
    method: Literal["ptq", "qat"] = Field(
        "ptq", description="ptq: calibrate only; qat: fake-quantize, then fine-tune against the teacher.")
    weight_bits: int = Field(8, description="Weight bits: 8, or 4 (int4 weights: PT2E holds them in int8 containers, ONNX files store INT4).")
    weight_granularity: Literal["per_channel", "per_tensor"] = Field(
        "per_channel", description="One scale per output channel, or one per tensor.")
    weight_symmetric: bool = Field(True, description="Symmetric weights (zero point 0), as NPUs expect.")
    activation_bits: int | None = Field(
        8, description="Activation bits: 8 or 16; null quantizes weights only (activations stay float).")
    activation_granularity: Literal["per_tensor", "per_channel"] = Field(
        "per_tensor", description="Activations are per-tensor; per_channel is rejected (no runtime supports it).")
    activation_symmetric: bool = Field(False, description="Symmetric activations (signed); affine uses uint8/int16.")
    calibration: Literal["minmax", "moving_average", "percentile", "mse", "entropy"] = Field(
        "mse", description="Activation range: minmax, moving_average (EMA of min/max), percentile, mse "
                           "(torch's histogram search that minimises the L2 quantization error) or entropy "
                           "(the range minimising the KL divergence of the quantized histogram).")
    percentile: float = Field(99.99, gt=50, le=100, description="Percentile kept by `calibration: percentile`.")
    protect_output: bool = Field(
        True, description="Calibrate the last conv (`head`) with min-max whatever `calibration` says, so the "
                          "image range is never clipped (percentile calibration clips highlights otherwise).")
    keep_float: list[str] = Field([], description="Student layers (name prefixes) left in float.")
    activations_16bit: list[str] = Field(
        [], description="Student layers (name prefixes) whose activations use 16 bits while the rest use "
                        "`activation_bits`: a mixed scheme for NPUs that run both (Qualcomm HTP); "
                        "`quantize --sensitivity` suggests the list.")
    equalize: bool = Field(False, description="Cross-layer equalization of consecutive convs before quantizing.")
    bias_correction: bool = Field(
        False, description="Empirical bias correction: subtract each conv's mean output error from weight rounding "
                           "(measured on the calibration crops) from its bias.")
    qat_steps: int = Field(200, ge=1, description="QAT fine-tune batches (method: qat).")
    qat_lr: float = Field(1e-4, gt=0, description="QAT learning rate (method: qat).")
    qat_batch_size: int = Field(4, ge=1, le=4096, description="Crops per QAT batch, at the evaluation size the "
                                "graph was traced for (method: qat).")

    @field_validator("weight_bits")
    @classmethod
    def _weight_bits(cls, value: int) -> int:
        if value not in (4, 8):
            raise ValueError(f"{value}-bit weights are not supported; use 8 or 4")
        return value

    @field_validator("activation_bits")
    @classmethod
    def _activation_bits(cls, value: int | None) -> int | None:
        if value not in (None, 8, 16):
            raise ValueError(f"{value}-bit activations are not supported; use 8, 16 or null (weight-only)")
        return value

    @field_validator("activation_granularity")
    @classmethod
    def _activation_granularity(cls, value: str) -> str:
        if value == "per_channel":
            raise ValueError("per-channel activations are not supported by any target runtime; use per_tensor")
        return value

    @model_validator(mode="after")
    def _mixed_needs_8bit_rest(self) -> "SchemeConfig":
        if self.activations_16bit and (self.kind != "int" or self.activation_bits != 8):
            raise ValueError("activations_16bit widens some layers of an int scheme with 8-bit activations; "
                             f"this scheme has kind {self.kind!r} and activation_bits {self.activation_bits}")
        return self

    def describe(self) -> str:
        """One line for tables: what this scheme stores and how it was calibrated."""
        if self.kind == "fp16":
            return "fp16 weights and activations"
        weights = (f"int{self.weight_bits} {self.weight_granularity.replace('_', '-')} "
                   f"{'symmetric' if self.weight_symmetric else 'affine'} weights")
        extras = [f"{self.method.upper()}"] + (["CLE"] if self.equalize else []) + \
                 (["bias correction"] if self.bias_correction else []) + \
                 ([f"float: {', '.join(self.keep_float)}"] if self.keep_float else []) + \
                 ([f"16-bit activations: {', '.join(self.activations_16bit)}"] if self.activations_16bit else [])
        if self.activation_bits is None:
            return f"{weights}, float activations; {', '.join(extras)}"
        return (f"{weights}, int{self.activation_bits} {'symmetric' if self.activation_symmetric else 'affine'} "
                f"activations ({self.calibration}); {', '.join(extras)}")


def _default_schemes() -> list[SchemeConfig]:
    return [SchemeConfig(name="int8")]


class QuantizeConfig(Section):
    """Quantization schemes, simulated in PyTorch's PT2E flow (torchao) and compared on equal terms."""

    calibration_images: int = Field(16, ge=1, description="Training crops used to calibrate activation ranges.")
    schemes: list[SchemeConfig] = Field(
        default_factory=_default_schemes, min_length=1, description="Schemes to build; each gets a result row.")
    ship: str | None = Field(None, description="Scheme that export and evaluate use (default: the first).")
    reference: bool = Field(
        True, description="Also quantize with ONNX Runtime's quantize_static (QDQ, per-channel, min-max, same "
                          "calibration crops) as a baseline row.")
    min_psnr_vs_fp32: float = Field(
        40.0, description="Quality budget for `stylectl quantize --sensitivity`: the fewest layers kept in float "
                          "that bring the shipped scheme to this PSNR (dB) against the fp32 student.")
    compare: bool = Field(False, description="The scheme matrix: also write every scheme as the ONNX, TFLite and "
                                             "Core ML files that carry it, run and time them, simulate them on QNN "
                                             "HTP, and plot quality against size (`stylectl quantize CONFIG --compare` "
                                             "sets it).")

    @field_validator("schemes")
    @classmethod
    def _unique_names(cls, schemes: list[SchemeConfig]) -> list[SchemeConfig]:
        names = [scheme.name for scheme in schemes]
        repeated = sorted({name for name in names if names.count(name) > 1})
        if repeated:
            raise ValueError(f"scheme names must be unique; repeated: {', '.join(repeated)}")
        return schemes

    @model_validator(mode="after")
    def _ship_exists(self) -> "QuantizeConfig":
        self.shipped()
        return self

    def shipped(self) -> SchemeConfig:
        """The scheme export and evaluate use."""
        name = self.ship or self.schemes[0].name
        for scheme in self.schemes:
            if scheme.name == name:
                return scheme
        raise ValueError(f"no scheme named '{name}' (schemes: {[s.name for s in self.schemes]})")
