"""What a build delivers (exported files, evaluation and its gates), and RunConfig, the root
that holds every section."""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from stylectl.pipelines.config.inputs import DataConfig, StyleConfig, TeacherConfig, style_slug
from stylectl.pipelines.config.section import Section
from stylectl.pipelines.config.student import PruneConfig, QuantizeConfig, StudentConfig
from stylectl.pipelines.export.formats import resolve_formats


class ExportConfig(Section):
    """Files written for runtimes: formats and their options are checked against the table in
    pipelines/export/formats.py."""

    formats: dict[str, dict[str, Any]] = Field(
        default_factory=lambda: {"onnx": {}},
        description="Formats to write: a list (onnx, tflite, coreml, pte) or a mapping format -> options "
                    "(variants, and each format's own options; see docs/export.md).")
    opset: int = Field(18, ge=18, le=24, description="ONNX opset version, 18 to 24: the opsets torch's exporter "
                       "writes natively.")
    parity_min_psnr: float = Field(
        30.0, description="An fp16 or int8 file further than this PSNR (dB) from its torch source fails. An int8 "
        "runtime rounds differently from the float PT2E simulation, and the global context's int8 multiplies "
        "amplify a flipped rounding, so a sound int8 file does not match its simulation exactly; 30 dB allows "
        "for that and still fails a broken conversion (a wrong layout or scale).")
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
    warmup: int = Field(3, ge=0, description="Untimed runs of each file before timing.")
    runs: int = Field(20, ge=1, description="Timed runs of each file per round; the report gives median and p90.")
    rounds: int = Field(
        5, ge=1, description="Alternating timing rounds: after every file's warm-up, each round times every file "
        "`runs` times in turn, so a busy spell hits all files alike. A file's latency is the median of its round "
        "medians, with their min-max spread; speed-ups are per-round ratios against the baseline (median, range).")
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
    def _temporal_room(self) -> "RunConfig":
        if self.student.temporal_weight and self.data.crop_size < 64:
            raise ValueError("student.temporal_weight needs data.crop_size >= 64: its moved window keeps 7/8 of "
                             "the crop and moves within the rest")
        return self

    @model_validator(mode="after")
    def _style_image_when_needed(self) -> "RunConfig":
        if self.style.image is not None:
            return self
        if self.teacher.onnx is None:
            raise ValueError("style.image: null is for an imported ONNX teacher (teacher.onnx); a teacher trained "
                             "or taken from the arbitrary-style network needs a style image")
        if self.student.style_weight:
            raise ValueError("student.style_weight compares the student with the style image; set style.image or "
                             "student.style_weight: 0")
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
        if not isinstance(self.style.image, list):
            return [self]
        return [self.model_copy(update={"name": f"{self.name}-{style_slug(image)}",
                                        "style": self.style.model_copy(update={"image": image})})
                for image in self.style.image]
