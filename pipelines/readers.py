"""Each stage's output as the later stages read it: the teacher, a student, and the quantize
stage's fp32 model, shipped scheme and calibration crops (quant/build.py rebuilds its simulated
models from them); and, for `stylize` and the benchmarks, a stage folder given by path, the export
stage's files, evaluate's teacher ONNX file, the quantize stage's reference file and comparison, a
training run's log.

Later stages take their decisions from these files, not by re-reading the config or
re-deriving data: the artifact's digest (in their cache key) then covers everything they use.
Nothing outside a stage names the files inside its folder: it asks here.
"""

from __future__ import annotations

import json
from pathlib import Path

import safetensors.torch
import torch
from torch import nn

from stylectl.pipelines.artifacts import MANIFEST, Artifact, load_verified, write_atomic
from stylectl.pipelines.config import SchemeConfig
from stylectl.pipelines.errors import StylectlError
from stylectl.pipelines.models.onnx_teacher import OnnxTeacher
from stylectl.pipelines.models.spec import load_model

TORCH_FILE = "teacher.safetensors"
ONNX_FILE = "teacher.onnx"
STUDENT_FILE = "student.safetensors"
QUANTIZED_FP32_FILE = "model.safetensors"
SHIPPED_FILE = "shipped_scheme.json"
CALIBRATION_FILE = "calibration.safetensors"
ORT_REFERENCE_FILE = "ort_reference_int8.onnx"  # the quantize stage's onnxruntime quantize_static file
COMPARISON_TABLE = "comparison.md"  # the quantize stage's scheme comparison (quant/compare.py)
COMPARISON_PLOT = "comparison.png"
EVALUATED_TEACHER_FILE = "teacher_fp32.onnx"  # evaluate's latency baseline (stages/evaluate.py's TEACHER_ONNX)
TRAINING_LOG = "logs/metrics.csv"  # Lightning's CSV log of a training stage (train/trainer.py)


def load_teacher(artifact: Artifact) -> nn.Module:
    """Rebuild the teacher a train-teacher artifact holds, in eval mode."""
    if (artifact.folder / ONNX_FILE).exists():
        settings = artifact.manifest["config"]["teacher"]["onnx"]
        return OnnxTeacher(artifact.path(ONNX_FILE), settings["input_range"], settings["output_range"],
                           settings["layout"], settings["inputs"])
    return load_model(artifact.path(TORCH_FILE))


def teacher_file(artifact: Artifact):
    """The teacher's file in the artifact (ONNX when imported, else safetensors)."""
    onnx = artifact.folder / ONNX_FILE
    return onnx if onnx.exists() else artifact.path(TORCH_FILE)


def is_torch_teacher(teacher: nn.Module) -> bool:
    """False for an imported ONNX teacher: no parameters to count, no graph to trace or export."""
    return not isinstance(teacher, OnnxTeacher)


def student_file(artifact: Artifact) -> Path:
    """The student a distill or prune artifact holds."""
    return artifact.path(STUDENT_FILE)


def load_student(artifact: Artifact) -> nn.Module:
    return load_model(student_file(artifact))


def quantized_fp32(artifact: Artifact) -> nn.Module:
    """The fp32 model every scheme of a quantize artifact was built on (the pruned student)."""
    return load_model(artifact.path(QUANTIZED_FP32_FILE))


def write_shipped(folder: Path, scheme: SchemeConfig, image_size: int) -> None:
    """Record the scheme export and evaluate use, and the image size its graph was traced at."""
    document = {"scheme": scheme.model_dump(mode="json"), "image_size": image_size}
    write_atomic(folder / SHIPPED_FILE, (json.dumps(document, indent=2, sort_keys=True) + "\n").encode())


def _shipped_document(artifact: Artifact) -> dict:
    return json.loads(artifact.path(SHIPPED_FILE).read_text())


def shipped_scheme(artifact: Artifact) -> SchemeConfig:
    return SchemeConfig(**_shipped_document(artifact)["scheme"])


def traced_size(artifact: Artifact) -> int:
    """The square image size the quantize artifact's PT2E graphs were traced at."""
    return _shipped_document(artifact)["image_size"]


def write_calibration(folder: Path, crops: list[torch.Tensor]) -> None:
    path = folder / CALIBRATION_FILE
    write_atomic(path, safetensors.torch.save({"crops": torch.stack(crops).contiguous()}))


def calibration(artifact: Artifact) -> list[torch.Tensor]:
    """The crops every scheme of the quantize artifact was calibrated on (export's int8 files reuse them)."""
    return list(safetensors.torch.load_file(artifact.path(CALIBRATION_FILE))["crops"])


def stage_output(folder: Path) -> Artifact:
    """The finished stage output in a folder given by path (`stylize --model FOLDER`): its manifest, with
    every file it lists verified. StylectlError, one line, when the folder is not one."""
    try:
        manifest = json.loads((folder / MANIFEST).read_text())
    except (OSError, ValueError):
        raise StylectlError(f"not a finished stage folder (no readable {MANIFEST})") from None
    artifact = load_verified(folder, manifest.get("stage"), manifest.get("key")) if isinstance(manifest, dict) else None
    if artifact is None:
        raise StylectlError(f"not a finished stage folder (its files do not match its {MANIFEST})")
    return artifact


def stage_input(artifact: Artifact, stage: str) -> Artifact:
    """The `stage` output `artifact` was built from, where the checkpoint layout keeps it
    (<build>/<stage>/<key>/, beside the artifact's own stage folder), verified and with the digest
    the artifact's manifest recorded. StylectlError when it is gone or changed."""
    record = artifact.manifest.get("inputs", {}).get(stage)
    if record is None:
        raise StylectlError(f"a {artifact.stage} folder has no {stage} input")
    folder = artifact.folder.parent.parent / stage / record["key"]
    found = load_verified(folder, stage, record["key"])
    if found is None or found.digest != record.get("digest", found.digest):
        raise StylectlError(f"its {stage} input {folder} is missing or no longer the one it was built from")
    return found


def export_rows(artifact: Artifact) -> list[dict]:
    """The export stage's rows, one per file it tried, in the config's order: format, variant, file,
    options (what the format's `run` and `time` need), status ("ok" when the file was kept) and checks."""
    return artifact.metrics["rows"]


def exported_files(artifact: Artifact) -> dict[tuple[str, str], Path]:
    """The export stage's kept files by (variant, format): ("int8", "tflite") -> student_int8.tflite."""
    return {(row["variant"], row["format"]): artifact.path(row["file"])
            for row in export_rows(artifact) if row["status"] == "ok"}


def exported_file(artifact: Artifact, variant: str, file_format: str) -> Path:
    """One exported file; StylectlError when export did not keep it (not asked for, or it failed)."""
    found = exported_files(artifact).get((variant, file_format))
    if found is None:
        raise StylectlError(f"{artifact.folder}: no {variant} {file_format} file was exported")
    return found


def evaluated_teacher_onnx(artifact: Artifact) -> Path:
    """The teacher's fp32 ONNX file the evaluate stage timed every exported file against."""
    return artifact.path(EVALUATED_TEACHER_FILE)


def ort_reference(artifact: Artifact) -> Path:
    """The quantize stage's onnxruntime quantize_static int8 file of the same student."""
    return artifact.path(ORT_REFERENCE_FILE)


def comparison_table(artifact: Artifact) -> str:
    """The quantize stage's scheme comparison, as markdown."""
    return artifact.path(COMPARISON_TABLE).read_text()


def comparison_plot(artifact: Artifact) -> Path | None:
    """The quantize stage's comparison plot; None when it compared a single scheme (no plot then)."""
    path = artifact.folder / COMPARISON_PLOT
    return path if path.is_file() else None


def training_log(artifact: Artifact) -> Path:
    """The CSV log (step, losses, validation PSNR) of a training stage's run."""
    return artifact.path(TRAINING_LOG)

