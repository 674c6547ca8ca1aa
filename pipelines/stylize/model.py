"""Which file `stylize` runs and how: a build config, a stage folder or a model file, resolved to
one exported file, its format's options and the input size it accepts.

The file runs through its format's `FormatModule.run` (export/formats.py), the same code that
export's parity check and evaluate use, so stylize shows what the report measured.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from stylectl.pipelines.artifacts import Artifact
from stylectl.pipelines.errors import StylectlError, UserInputError
from stylectl.pipelines.export.formats import FORMATS
from stylectl.pipelines.readers import export_rows, exported_file, stage_input, stage_output

DEFAULT_VARIANT = "int8"  # the variant a phone ships; --variant picks another


@dataclass(frozen=True)
class StyleModel:
    """One exported file ready to run: `input_size` is (height, width) for a fixed-size file,
    None for one with dynamic height and width."""

    file_format: str
    path: Path
    options: dict
    input_size: tuple[int, int] | None
    threads: int = 1

    def run(self, images):
        """Outputs for a batch [N,3,H,W] of RGB [0, 1] images, in the file's own runtime."""
        return FORMATS[self.file_format].load().run(self.path, images, self.threads, self.options)

    def describe(self) -> dict:
        return {"file": str(self.path), "format": self.file_format, "runtime": FORMATS[self.file_format].runtime,
                "input_size": list(self.input_size) if self.input_size else "dynamic", "threads": self.threads}


def resolve_model(spec: Path, variant: str | None, file_format: str | None, checkpoints: Path, threads: int,
                  overrides: list[str]) -> StyleModel:
    """`--model`: a build config (YAML), a stage folder, or a model file."""
    if spec.suffix.lower() in (".yaml", ".yml"):
        from stylectl.pipelines.config.loading import load_config

        return from_config(load_config(spec, overrides), variant, file_format, checkpoints, threads)
    if spec.is_dir():
        return from_stage_folder(spec, variant, file_format, threads)
    if variant or file_format:
        raise UserInputError(f"--model {spec}: --variant and --format choose among a build's files; "
                             "a model file is one already")
    return from_file(spec, threads)


def from_file(path: Path, threads: int, options: dict | None = None) -> StyleModel:
    """A model file (.onnx, .tflite, .pte); its input size and layout are read from the file."""
    by_suffix = {entry.suffix: name for name, entry in FORMATS.items()}
    name = by_suffix.get(path.suffix.lower())
    if name is None or not path.exists():
        problem = "no such file" if not path.exists() else f"not a model file ({', '.join(by_suffix)})"
        raise UserInputError(f"--model {path}: {problem}")
    module = FORMATS[name].load()
    try:
        shape = module.inspect(path)["input_shape"]
    except Exception as error:  # noqa: BLE001 - any reader failure means the file is not usable
        raise UserInputError(f"--model {path}: cannot read it as {name} ({type(error).__name__}: {error})") from None
    nhwc = len(shape) == 4 and shape[-1] == 3 and shape[1] != 3
    if options is None:  # a bare file: the layout is the only option `run` needs that the file does not say
        options = {"nhwc": nhwc} if name == "tflite" else {}
    height, width = (shape[1], shape[2]) if nhwc else (shape[2], shape[3])
    fixed = isinstance(height, int) and isinstance(width, int) and height > 0 and width > 0
    return StyleModel(name, path, options, (height, width) if fixed else None, threads)


def from_stage_folder(folder: Path, variant: str | None, file_format: str | None, threads: int) -> StyleModel:
    """An export folder (its manifest's rows) or an evaluate folder (the export it evaluated), each
    verified against its manifest as the runner verifies a cached stage."""
    try:
        artifact = stage_output(folder)
        if artifact.stage == "evaluate":
            artifact = stage_input(artifact, "export")
    except StylectlError as error:
        raise UserInputError(f"--model {folder}: {error}") from None
    if artifact.stage != "export":
        raise UserInputError(f"--model {folder}: a {artifact.stage} folder; give an export or evaluate folder")
    return _pick_row(artifact, variant, file_format, threads)


def from_config(config, variant: str | None, file_format: str | None, checkpoints: Path, threads: int) -> StyleModel:
    """The build's finished export (found by its cache key; nothing is built)."""
    from stylectl.pipelines.runner import cached_artifact

    builds = config.per_style()
    if len(builds) != 1:
        raise UserInputError(f"--model: build '{config.name}' has {len(builds)} styles; give one style's export folder")
    artifact = cached_artifact(builds[0], "export", checkpoints)
    if artifact is None:
        raise UserInputError(f"--model: build '{config.name}' has no finished export in {checkpoints} for this config; "
                             f"run `stylectl export` with it first")
    return _pick_row(artifact, variant, file_format, threads)


def _pick_row(artifact: Artifact, variant: str | None, file_format: str | None, threads: int) -> StyleModel:
    """The exported file of the variant (default int8) and format (default: the first one exported that
    runs here, in the config's order)."""
    wanted, rows = variant or DEFAULT_VARIANT, export_rows(artifact)
    for row in rows:
        if row["status"] != "ok" or row["variant"] != wanted or (file_format and row["format"] != file_format):
            continue
        if FORMATS[row["format"]].load().runnable_here(row["variant"]) is None:
            return from_file(exported_file(artifact, row["variant"], row["format"]), threads, row["options"])
    available = sorted(f"{row['variant']} {row['format']}" for row in rows if row["status"] == "ok")
    raise UserInputError(f"--model {artifact.folder}: no runnable {wanted} {file_format or ''} file here "
                         f"(exported: {', '.join(available) or 'none'})".replace("  ", " "))
