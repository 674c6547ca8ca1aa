"""Training settings the teacher, the student and the prune stage's fine-tunes share: the Lightning
Trainer, random crop changes, the adversarial term, the learning-rate schedule and the names of the
VGG loss layers."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from stylectl.pipelines.config.section import Section

VGG_LAYERS_HINT = "VGG19 layer names such as relu1_1, relu2_2, relu3_1, relu4_1, relu5_1"
LrSchedule = Literal["constant", "cosine"]
LR_SCHEDULE_HELP = "Learning rate over the run: constant, or cosine (decays from `lr` to zero by the last step)."


class TrainerConfig(Section):
    """Lightning Trainer settings: the same YAML runs on a CPU, N GPUs or N nodes (DDP)."""

    accelerator: Literal["auto", "cpu", "gpu", "cuda", "mps"] = Field(
        "auto", description="Lightning accelerator; 'auto' picks a GPU when one is visible."
    )
    devices: int | Literal["auto"] = Field(1, description="Devices (GPUs or CPU processes) per node.")
    num_nodes: int = Field(1, ge=1, description="Number of machines for multi-node DDP.")
    strategy: Literal["auto", "ddp", "ddp_spawn", "fsdp"] = Field(
        "auto", description="Distribution strategy; 'ddp' for multi-GPU or multi-node training."
    )
    precision: Literal["32-true", "16-mixed", "bf16-mixed", "bf16-true"] = Field(
        "32-true", description="Numeric precision of training; bf16-mixed on recent GPUs."
    )
    gradient_clip_val: float | None = Field(
        None, gt=0, description="Clip gradient norm to this value; null disables clipping."
    )
    ema_decay: float | None = Field(
        None, gt=0, lt=1, description="Keep an exponential moving average of the weights (Lightning's "
        "EMAWeightAveraging): validation, the saved model and later stages use the average, which smooths the "
        "step-to-step swings of a constant learning rate. 0.99 averages about the last 100 steps; null: off.")
    log_every_n_steps: int = Field(10, ge=1, description="Write losses to the CSV and TensorBoard logs every N steps.")
    val_every_n_steps: int = Field(
        100, ge=0, description="Run validation on the held-out photos (and write an image grid) every N steps; 0: never."
    )
    checkpoint_every_n_steps: int = Field(
        200, ge=1, description="Save a resumable checkpoint every N steps (kept until the stage succeeds)."
    )


class AugmentConfig(Section):
    """Random changes to each training crop, so that a model trained on a few photos generalizes.

    Evaluation photos and the crops of quantization (calibration, QAT) and of Taylor importance
    are never augmented: they show photos as loaded.
    """

    scale: tuple[float, float] | None = Field(
        (0.33, 1.0),
        description="[min, max]: each crop is a square window whose side is a random share (log-uniform) of the "
        "photo's short side, resized to crop_size (antialiased). 1.0 frames the whole short side, as evaluation "
        "does; crop_size/eval_size (0.5 in the quickstart) shows things at the evaluation's pixel scale; smaller "
        "shares magnify. null: crop_size windows at the loaded scale, not resized (plain random crops).",
    )
    flip: bool = Field(True, description="Mirror half the crops horizontally.")
    color: float = Field(
        0.1, ge=0, lt=1, description="Brightness, contrast and saturation jitter: each is scaled by a random factor "
        "in [1-color, 1+color], pixels clamped to [0, 1]; 0 leaves the pixels as they are.",
    )

    @field_validator("scale")
    @classmethod
    def _scale_range(cls, value: tuple[float, float] | None) -> tuple[float, float] | None:
        if value is not None and not 0 < value[0] <= value[1] <= 1:
            raise ValueError(f"must be [min, max] with 0 < min <= max <= 1 (shares of the short side), got {list(value)}")
        return value


class AdversarialConfig(Section):
    """Optional GAN term: a PatchGAN discriminator learns to tell style-image patches from teacher output."""

    enabled: bool = Field(False, description="Add the adversarial term to the teacher's loss.")
    weight: float = Field(
        1000.0, ge=0, description="Weight of the generator's hinge loss against the stage's other terms; the "
        "teacher's perceptual terms are on the 0-255 VGG scale (content ~1e5 at the start), hence large; tune per style."
    )
    width: int = Field(32, ge=4, description="Channels of the discriminator's first conv.")
    layers: int = Field(3, ge=1, le=6, description="Stride-2 layers of the discriminator (patch size grows with it).")
    lr: float = Field(2e-4, gt=0, description="Discriminator Adam learning rate.")
