"""Each stage's output as the later stages read it: the teacher, a student, and the quantize
stage's fp32 model, shipped scheme, its simulated model and its calibration crops.

Later stages take their decisions from these files, not by re-reading the config or
re-deriving data: the artifact's digest (in their cache key) then covers everything they use.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from torch import nn

from stylectl.pipelines.artifacts import Artifact, write_atomic
from stylectl.pipelines.config import SchemeConfig

TORCH_FILE = "teacher.safetensors"
ONNX_FILE = "teacher.onnx"
STUDENT_FILE = "student.safetensors"
QUANTIZED_FP32_FILE = "model.safetensors"
SHIPPED_FILE = "shipped_scheme.json"
CALIBRATION_FILE = "calibration.safetensors"


def load_teacher(artifact: Artifact) -> nn.Module:
    """Rebuild the teacher a train-teacher artifact holds, in eval mode."""
    if (artifact.folder / ONNX_FILE).exists():
        from stylectl.pipelines.models.onnx_teacher import OnnxTeacher

        settings = artifact.manifest["config"]["teacher"]["onnx"]
        return OnnxTeacher(artifact.path(ONNX_FILE), settings["input_range"], settings["output_range"],
                           settings["layout"], settings["inputs"])
    from stylectl.pipelines.models.spec import load_model

    return load_model(artifact.path(TORCH_FILE))


def teacher_file(artifact: Artifact):
    """The teacher's file in the artifact (ONNX when imported, else safetensors)."""
    onnx = artifact.folder / ONNX_FILE
    return onnx if onnx.exists() else artifact.path(TORCH_FILE)


def is_torch_teacher(teacher: nn.Module) -> bool:
    """False for an imported ONNX teacher: no parameters to count, no graph to trace or export."""
    from stylectl.pipelines.models.onnx_teacher import OnnxTeacher

    return not isinstance(teacher, OnnxTeacher)


def student_file(artifact: Artifact) -> Path:
    """The student a distill or prune artifact holds."""
    return artifact.path(STUDENT_FILE)


def load_student(artifact: Artifact) -> nn.Module:
    from stylectl.pipelines.models.spec import load_model

    return load_model(student_file(artifact))


def quantized_fp32(artifact: Artifact) -> nn.Module:
    """The fp32 model every scheme of a quantize artifact was built on (the pruned student)."""
    from stylectl.pipelines.models.spec import load_model

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


def quantized_student(artifact: Artifact, scheme: SchemeConfig | None = None) -> nn.Module:
    """The simulated model of `scheme` (default: the shipped one), rebuilt from the fp32 model and
    the scheme's saved state exactly as the quantize stage built it."""
    from stylectl.pipelines.quant import pt2e
    from stylectl.pipelines.quant.build import state_file
    from stylectl.pipelines.quant.fp16 import float16_simulation

    scheme = scheme or shipped_scheme(artifact)
    model = quantized_fp32(artifact).eval()
    if scheme.kind == "fp16":
        return float16_simulation(model)
    return pt2e.load_quantized(model, artifact.path(state_file(scheme)), traced_size(artifact), scheme)


def write_calibration(folder: Path, crops: list[torch.Tensor]) -> None:
    import safetensors.torch

    path = folder / CALIBRATION_FILE
    write_atomic(path, safetensors.torch.save({"crops": torch.stack(crops).contiguous()}))


def calibration(artifact: Artifact) -> list[torch.Tensor]:
    """The crops every scheme of the quantize artifact was calibrated on (export's int8 files reuse them)."""
    import safetensors.torch

    return list(safetensors.torch.load_file(artifact.path(CALIBRATION_FILE))["crops"])
