"""The teacher as later stages see it: a trained torch network or an imported ONNX model."""

from __future__ import annotations

from torch import nn

from stylectl.pipelines.artifacts import Artifact

TORCH_FILE = "teacher.safetensors"
ONNX_FILE = "teacher.onnx"


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
