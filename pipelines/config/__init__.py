"""The build config: one pydantic model per YAML section.

Every field has a default and a description, so the JSON schema (`stylectl schema`) and
the shipped YAML files are the whole truth about what a build does: stage code never
invents a default of its own. Unknown keys are errors (`extra="forbid"`).

The declarations: section.py (the base every section shares), training.py (trainer, crop
changes, adversarial term), inputs.py (data, style, teacher), student.py (student, prune,
quantize) and run.py (export, evaluate, and the root RunConfig). loading.py reads a YAML file
with `--set` overrides and explains errors by file and line; views.py narrows the config to
what a stage's cache key hashes.
"""

from stylectl.pipelines.config.inputs import (DataConfig, OnnxTeacherConfig, StyleConfig, TeacherConfig, ValueRange,
                                              style_slug)
from stylectl.pipelines.config.run import EvaluateConfig, ExportConfig, GatesConfig, RunConfig
from stylectl.pipelines.config.student import PruneConfig, QuantizeConfig, SchemeConfig, StudentConfig
from stylectl.pipelines.config.training import AdversarialConfig, AugmentConfig, LrSchedule, TrainerConfig

__all__ = [
    "AdversarialConfig", "AugmentConfig", "DataConfig", "EvaluateConfig", "ExportConfig", "GatesConfig",
    "LrSchedule", "OnnxTeacherConfig", "PruneConfig", "QuantizeConfig", "RunConfig", "SchemeConfig",
    "StudentConfig", "StyleConfig", "TeacherConfig", "TrainerConfig", "ValueRange", "style_slug",
]
