"""NPU pre-flight: what in this build would leave the accelerator or stay float, per target.

The rules live in one table (RULES), each with the targets it concerns, what it looks for,
why it matters and where that is documented. They read three kinds of evidence: the fp32
student's layers, the shipped quantization scheme, and what the export stage found in the
files it wrote (float ops inside int8 files, dynamic input sizes). A finding is advice
until `stylectl export CONFIG --strict` makes it an error (exit code 3).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from torch import nn

from stylectl.pipelines.config import SchemeConfig

TARGETS = {
    "nnapi_htp": "Android NNAPI / Qualcomm HTP",
    "apple_ane": "Apple Neural Engine",
    "full_int8": "strict full-int8 (every op int8)",
}
NNAPI_OPS = "https://developer.android.com/ndk/reference/group/neural-networks"
TFLITE_NNAPI = "https://ai.google.dev/edge/litert/android/delegates/nnapi"
TFLITE_16X8 = "https://ai.google.dev/edge/litert/models/post_training_integer_quant_16x8"
COREML_FLEXIBLE = "https://apple.github.io/coremltools/docs-guides/source/flexible-inputs.html"


@dataclass(frozen=True)
class Evidence:
    model: nn.Module
    scheme: SchemeConfig
    rows: list[dict]  # the export stage's rows


@dataclass(frozen=True)
class Rule:
    name: str
    targets: tuple[str, ...]
    find: Callable[[Evidence], list[str]]  # where the rule applies (empty: it does not)
    why: str
    source: str


def _layers(*types: type) -> Callable[[Evidence], list[str]]:
    return lambda evidence: [name for name, module in evidence.model.named_modules() if isinstance(module, types)]


def _mirror_padding(evidence: Evidence) -> list[str]:
    return [name for name, module in evidence.model.named_modules()
            if isinstance(module, (nn.ReflectionPad2d, nn.ReplicationPad2d))
            or (isinstance(module, nn.Conv2d) and module.padding_mode in ("reflect", "replicate"))]


def _float_ops_in_int8_files(evidence: Evidence) -> list[str]:
    return [f"{row['file']}: {', '.join(row['float_compute_ops'])}" for row in evidence.rows
            if row.get("variant") == "int8" and row.get("float_compute_ops")]


def _dynamic_inputs(evidence: Evidence) -> list[str]:
    return [row["file"] for row in evidence.rows
            if any(isinstance(dim, str) for dim in row.get("input_shape") or [])]


def _float_layers_in_scheme(evidence: Evidence) -> list[str]:
    scheme = evidence.scheme
    if scheme.kind != "int" or scheme.activation_bits is None:
        return [f"scheme '{scheme.name}': {scheme.describe()}"]
    return [f"scheme '{scheme.name}' keeps {name} in float" for name in scheme.keep_float]


def _sixteen_bit_activations(evidence: Evidence) -> list[str]:
    scheme = evidence.scheme
    return [f"scheme '{scheme.name}'"] if scheme.kind == "int" and scheme.activation_bits == 16 else []


RULES = (
    Rule("instance_norm", ("nnapi_htp", "full_int8"), _layers(nn.InstanceNorm2d),
         "NNAPI's INSTANCE_NORMALIZATION takes float tensors only, so it cannot run inside an int8 graph on the "
         "NPU; use BatchNorm (folded into the conv)", NNAPI_OPS),
    Rule("mirror_padding", ("nnapi_htp",), _mirror_padding,
         "reflection/replication padding (MIRROR_PAD) is missing from older NNAPI feature levels and many vendor "
         "drivers; zero padding is supported everywhere", NNAPI_OPS),
    Rule("transposed_conv", ("nnapi_htp",), _layers(nn.ConvTranspose2d),
         "TRANSPOSE_CONV_2D needs NNAPI feature level 3 and is a common CPU fallback in vendor drivers; nearest "
         "resize + conv is supported everywhere", NNAPI_OPS),
    Rule("float_ops_in_int8_file", ("nnapi_htp", "full_int8"), _float_ops_in_int8_files,
         "ops computed in float between int8 ops split the graph: each float island runs on the CPU, with "
         "quantize/dequantize round trips", TFLITE_NNAPI),
    Rule("dynamic_input_size", ("nnapi_htp", "apple_ane"), _dynamic_inputs,
         "the NNAPI delegate does not accept dynamically sized tensors, and Core ML runs range-flexible shapes off "
         "the Neural Engine; ship fixed sizes (or enumerated shapes)", TFLITE_NNAPI + " ; " + COREML_FLEXIBLE),
    Rule("float_layers_in_scheme", ("full_int8",), _float_layers_in_scheme,
         "the shipped scheme leaves layers or activations in float, so no file made from it is full-int8", ""),
    Rule("int16_activations", ("nnapi_htp",), _sixteen_bit_activations,
         "16-bit activations (16x8) run on TFLite's reference kernels and few NPU drivers; int8 activations are "
         "the accelerated path", TFLITE_16X8),
)


def preflight(model: nn.Module, scheme: SchemeConfig, rows: list[dict]) -> dict:
    """Every finding of every rule, and a verdict per target."""
    evidence = Evidence(model, scheme, rows)
    findings = []
    for rule in RULES:
        for where in rule.find(evidence):
            findings += [{"target": target, "rule": rule.name, "where": where, "why": rule.why,
                          "source": rule.source} for target in rule.targets]
    verdicts = {target: sum(finding["target"] == target for finding in findings) for target in TARGETS}
    return {"targets": TARGETS, "findings": findings, "findings_per_target": verdicts, "clean": not findings,
            "rules": [{"name": rule.name, "targets": list(rule.targets), "why": rule.why, "source": rule.source}
                      for rule in RULES]}


def markdown(result: dict) -> str:
    """The findings as a table (or one line saying every target is clean)."""
    lines = ["| target | verdict |", "|---|---|"]
    lines += [f"| {label} | {'clean' if not result['findings_per_target'][target] else str(result['findings_per_target'][target]) + ' finding(s)'} |"
              for target, label in result["targets"].items()]
    if result["findings"]:
        lines += ["", "| target | rule | where | why |", "|---|---|---|---|"]
        lines += [f"| {finding['target']} | {finding['rule']} | {finding['where']} | {finding['why']} |"
                  for finding in result["findings"]]
    return "\n".join(lines) + "\n"
