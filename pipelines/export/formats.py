"""The table of export formats: what each writes, which options it takes, what runs it.

Kept free of heavy imports: the config validator checks `export.formats` against it, and
`stylectl --help` must stay fast. Each format's code lives in the module named here.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Protocol, runtime_checkable

if TYPE_CHECKING:
    from torch import Tensor, nn

    from stylectl.pipelines.export.source import ExportSource
    from stylectl.pipelines.measure.latency import Timed


@runtime_checkable
class FormatModule(Protocol):
    """What a format's module (export/onnx.py, tflite.py, coreml.py, executorch.py) provides. Export,
    evaluate and stylize use a format only through these, so adding a format is one module and one row."""

    def write(self, variant: str, source: "ExportSource", path: Path, options: dict, opset: int) -> "nn.Module":
        """Write one variant to `path`; return the torch model the file must reproduce."""

    def run(self, path: Path, images: "Tensor", threads: int, options: dict) -> "Tensor":
        """The file's outputs for a batch of RGB [0, 1] images, in its own runtime."""

    def time(self, path: Path, image: "Tensor", threads: int, warmup: int, runs: int, options: dict) -> dict:
        """Latency of one image across measure/latency.py's BOUNDARY (NumPy array in, NumPy array out):
        {"median_ms", "p90_ms"} (and "runtime" when it names what ran)."""

    def prepare(self, path: Path, image: "Tensor", threads: int, options: dict) -> "Timed":
        """The file loaded once and ready to time across that same boundary, many times: its inference
        call, its input prepared in its own dtype and layout, and the runtime (measure/latency.py's
        `Timed`). evaluate times all of a build's files together this way, in alternating rounds."""

    def inspect(self, path: Path) -> dict:
        """What the file holds (ops, tensor types, shapes), read back from the file."""

    def runnable_here(self, variant: str) -> str | None:
        """None when this machine can run the variant's files; otherwise why not (shown in reports)."""

    def structure_problems(self, variant: str, info: dict) -> list[str]:
        """What is wrong with a file's structure (from `inspect`) that parity cannot show."""


def _is_bool(value: Any) -> bool:
    return isinstance(value, bool)


def _one_of(*allowed: Any) -> Callable[[Any], bool]:
    return lambda value: value in allowed


@dataclass(frozen=True)
class Option:
    """One format option: its default, a check of its value, and what it means."""

    default: Any
    check: Callable[[Any], bool]
    help: str


@dataclass(frozen=True)
class FileFormat:
    name: str
    suffix: str
    runtime: str
    variants: tuple[str, ...]
    module: str  # the stylectl module that implements FormatModule for it
    options: dict[str, Option] = field(default_factory=dict)
    # variants written when the YAML names none; None: all. A variant that needs a newer target than
    # the default one (Core ML int4_weights: iOS18) is only written when asked for.
    default_variants: tuple[str, ...] | None = None

    def load(self) -> FormatModule:
        """The format's code, imported only when a file of it is written or run."""
        return importlib.import_module(self.module)

    def resolve(self, given: dict[str, Any]) -> dict[str, Any]:
        """The options with defaults filled in; raises ValueError naming a bad option or value."""
        unknown = sorted(set(given) - set(self.options) - {"variants"})
        if unknown:
            raise ValueError(f"{self.name}: unknown option {unknown} (accepted: {['variants', *self.options]})")
        variants = given.get("variants", list(self.default_variants or self.variants))
        if not isinstance(variants, list) or not variants or any(v not in self.variants for v in variants):
            raise ValueError(f"{self.name}.variants: {variants!r} is not a non-empty list of {list(self.variants)}")
        resolved = {"variants": variants}
        for name, option in self.options.items():
            value = given.get(name, option.default)
            if not option.check(value):
                raise ValueError(f"{self.name}.{name}: {value!r} is not valid ({option.help})")
            resolved[name] = value
        return resolved


APPLE_TARGETS = ("iOS16", "iOS17", "iOS18", "macOS13", "macOS14", "macOS15")  # Core ML deployment targets
FORMATS: dict[str, FileFormat] = {
    "onnx": FileFormat(
        "onnx", ".onnx", "onnxruntime", ("fp32", "fp16", "int8"), "stylectl.pipelines.export.onnx",
        {"dynamic_size": Option(False, _is_bool, "true: height and width are dynamic (multiples of 4)")}),
    "tflite": FileFormat(
        "tflite", ".tflite", "ai-edge-litert (tflite_runtime when that is what is installed)",
        ("fp32", "fp16", "int8"), "stylectl.pipelines.export.tflite",
        {"nhwc": Option(False, _is_bool, "true: NHWC input and output, as Android camera pipelines hand them"),
         "int8_io": Option(True, _is_bool, "int8: true keeps int8 input/output tensors, false adds float I/O")}),
    "coreml": FileFormat(
        "coreml", ".mlpackage", "Core ML (macOS only)", ("fp16", "int8_weights", "int4_weights", "palettized"),
        "stylectl.pipelines.export.coreml",
        {"minimum_deployment_target": Option("iOS17", _one_of(*APPLE_TARGETS),
                                             "iOS16..iOS18 or macOS13..macOS15 (int4_weights: iOS18 or macOS15)"),
         "palettize_bits": Option(4, _one_of(2, 3, 4, 6, 8), "bits per weight index: 2, 3, 4, 6 or 8"),
         "int4_block_size": Option(0, lambda value: isinstance(value, int) and not isinstance(value, bool)
                                   and value >= 0,
                                   "int4_weights: 0 gives one scale per output channel; a positive number one per "
                                   "block of that many input channels (a conv whose input channels per group it "
                                   "does not divide keeps fp16 weights, as depthwise convs always do)"),
         "min_weight_elements": Option(2048, lambda value: isinstance(value, int) and value >= 0,
                                       "compress only weights with at least this many elements (coremltools' "
                                       "default 2048; smaller tensors cost more in lookup tables than they save)")},
        default_variants=("fp16", "int8_weights", "palettized")),
    "pte": FileFormat(
        "pte", ".pte", "executorch.runtime (XNNPACK; Core ML on Apple devices)", ("fp32", "int8", "coreml"),
        "stylectl.pipelines.export.executorch",
        {"minimum_deployment_target": Option("iOS17", _one_of(*APPLE_TARGETS),
                                             "coreml variant: iOS16..iOS18 or macOS13..macOS15")}),
}


def resolve_formats(value: Any) -> dict[str, dict[str, Any]]:
    """`export.formats` as {format: resolved options}; a list of names takes every default."""
    if isinstance(value, list):
        value = {name: {} for name in value}
    if not isinstance(value, dict) or not value:
        raise ValueError("expected a list of formats or a mapping format -> options")
    resolved = {}
    for name, options in value.items():
        if name not in FORMATS:
            raise ValueError(f"unknown format {name!r} (known: {list(FORMATS)})")
        resolved[name] = FORMATS[name].resolve(options or {})
    return resolved
