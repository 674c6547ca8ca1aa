"""NPU pre-flight: a verdict for every exported file on every NPU target, from the vendor's own
compiler where one runs here and from written rules where none does.

Vendor verdicts come from the export stage's rows (export/qnn_htp.py: Qualcomm's QNN HTP
backend compiles every ONNX file). The rules live in one table (RULES), each with the targets it
concerns, what it looks for, why it matters, where that is documented and which tool would
confirm it. They read three kinds of evidence: the fp32 student's layers, the shipped
quantization scheme, and what the export stage found in the files it wrote (float ops inside
int8 files, dynamic input sizes). Findings and files a vendor compiler did not fully compile
are advice until `stylectl export CONFIG --strict` makes them an error (exit code 3).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from torch import nn

from stylectl.pipelines.config import SchemeConfig

NNAPI_OPS = "https://developer.android.com/ndk/reference/group/neural-networks"
TFLITE_NNAPI = "https://ai.google.dev/edge/litert/android/delegates/nnapi"
TFLITE_16X8 = "https://ai.google.dev/edge/litert/models/post_training_integer_quant_16x8"
COREML_FLEXIBLE = "https://apple.github.io/coremltools/docs-guides/source/flexible-inputs.html"


@dataclass(frozen=True)
class Target:
    label: str
    takes: Callable[[dict], bool]  # whether the target loads an exported file (its export row)
    confirm: str  # the tool that gives the real verdict, and where it runs


TARGETS = {
    "qnn_htp": Target("Qualcomm Hexagon NPU (QNN HTP)", lambda row: row["format"] == "onnx",
                      "Qualcomm's QNN HTP compiler (onnxruntime-qnn, export.vendor_checks): runs here, on x86"),
    "litert_npu": Target("Android LiteRT NPU / GPU accelerators", lambda row: row["format"] == "tflite",
                         "LiteRT's CompiledModel with the NPU accelerator: needs the phone's vendor dispatch library"),
    "apple_ane": Target("Apple Neural Engine", lambda row: row["format"] == "coreml" or row["variant"] == "coreml",
                        "Core ML's compiler and Xcode's performance report: needs macOS"),
    "nnapi": Target("Android NNAPI (legacy: deprecated from Android 15)", lambda row: row["format"] == "tflite",
                    "TFLite's NNAPI delegate on a phone with Android 14 or older"),
    "full_int8": Target("strict full-int8 (every op int8)", lambda row: row["variant"] == "int8",
                        "the file's own op list (float_compute_ops), read back here"),
}


@dataclass(frozen=True)
class Evidence:
    model: nn.Module
    scheme: SchemeConfig
    rows: list[dict]  # the export stage's rows


@dataclass(frozen=True)
class Rule:
    name: str
    targets: tuple[str, ...]
    scope: str  # which files a finding concerns: "model" (all), "int8" (int8 files), "file" (the one named)
    find: Callable[[Evidence], list[str]]  # where the rule applies (empty: it does not); "file" scope: file names first
    why: str
    source: str
    confirm: str


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
    if scheme.kind == "int" and scheme.activation_bits == 16:
        return [f"scheme '{scheme.name}'"]
    return [f"scheme '{scheme.name}' gives {name} 16-bit activations" for name in scheme.activations_16bit]


ANDROID = ("nnapi", "litert_npu")
RULES = (
    Rule("instance_norm", (*ANDROID, "qnn_htp", "full_int8"), "model", _layers(nn.InstanceNorm2d),
         "NNAPI's INSTANCE_NORMALIZATION takes float tensors only, so it cannot run inside an int8 graph on the "
         "NPU; use BatchNorm (folded into the conv)", NNAPI_OPS,
         "the QNN HTP check for ONNX files; LiteRT's NPU accelerator on the phone"),
    Rule("mirror_padding", ANDROID, "model", _mirror_padding,
         "reflection/replication padding (MIRROR_PAD) is missing from older NNAPI feature levels and many vendor "
         "drivers; zero padding is supported everywhere", NNAPI_OPS, "LiteRT's NPU accelerator on the phone"),
    Rule("transposed_conv", ("nnapi",), "model", _layers(nn.ConvTranspose2d),
         "TRANSPOSE_CONV_2D needs NNAPI feature level 3 and is a common CPU fallback in vendor drivers; nearest "
         "resize + conv is supported everywhere", NNAPI_OPS, "TFLite's NNAPI delegate on the phone"),
    Rule("float_ops_in_int8_file", (*ANDROID, "qnn_htp", "full_int8"), "file", _float_ops_in_int8_files,
         "ops computed in float between int8 ops split the graph: each float island runs on the CPU, with "
         "quantize/dequantize round trips", TFLITE_NNAPI,
         "the QNN HTP check's node placement for ONNX files; LiteRT's NPU accelerator on the phone"),
    Rule("dynamic_input_size", (*ANDROID, "qnn_htp", "apple_ane"), "file", _dynamic_inputs,
         "NPU compilers take fixed tensor sizes (the NNAPI delegate and QNN HTP run dynamic graphs on the CPU), "
         "and Core ML runs range-flexible shapes off the Neural Engine; ship fixed sizes (or enumerated shapes)",
         TFLITE_NNAPI + " ; " + COREML_FLEXIBLE, "the QNN HTP check's node placement; Xcode's Core ML report"),
    Rule("float_layers_in_scheme", ("full_int8",), "int8", _float_layers_in_scheme,
         "the shipped scheme leaves layers or activations in float, so no file made from it is full-int8", "",
         "the int8 files' own op lists (float_compute_ops)"),
    Rule("int16_activations", ANDROID, "int8", _sixteen_bit_activations,
         "16-bit activations (16x8) run on TFLite's reference kernels and few NPU drivers; int8 activations are "
         "the accelerated path", TFLITE_16X8, "LiteRT's NPU accelerator on the phone"),
)


def preflight(model: nn.Module, scheme: SchemeConfig, rows: list[dict]) -> dict:
    """Every finding of every rule, the vendor checks' failures, and a verdict per file and target."""
    evidence = Evidence(model, scheme, rows)
    by_file = {row["file"]: row for row in rows}
    findings = []
    for rule in RULES:
        for where in rule.find(evidence):
            row = by_file.get(where.split(":")[0]) if rule.scope == "file" else None
            findings += [{"target": target, "rule": rule.name, "scope": rule.scope, "where": where, "why": rule.why,
                          "source": rule.source, "confirm": rule.confirm, "file": row and row["file"]}
                         for target in rule.targets
                         if row is None or TARGETS[target].takes(row)]  # a file counts only where it is loaded
    verdicts = [file_verdict(row, target, findings) for row in rows for target in TARGETS]
    vendor_failures = [f"{verdict['file']} on {verdict['target']}: {verdict['text']}" for verdict in verdicts
                       if verdict["by"] == "vendor" and verdict["ok"] is False]
    return {"targets": {name: target.label for name, target in TARGETS.items()},
            "confirm": {name: target.confirm for name, target in TARGETS.items()}, "findings": findings,
            "findings_per_target": {target: sum(f["target"] == target for f in findings) for target in TARGETS},
            "files": verdicts, "vendor_failures": vendor_failures, "clean": not findings and not vendor_failures,
            "rules": [{"name": rule.name, "targets": list(rule.targets), "why": rule.why, "source": rule.source,
                       "confirm": rule.confirm} for rule in RULES]}


def file_verdict(row: dict, target: str, findings: list[dict]) -> dict:
    """One file on one target: the vendor compiler's result where it ran, else the rules' (ok is None
    where the target does not load the file, or its vendor check could not run)."""
    verdict = {"file": row["file"], "target": target}
    if not TARGETS[target].takes(row):
        return {**verdict, "by": "n/a", "ok": None, "text": f"not loaded ({row['format']} {row['variant']})"}
    check = row.get("vendor", {}).get(target)
    if check and check["status"] != "not run":
        return {**verdict, "by": "vendor", "ok": check["status"] == "compiled", "text": vendor_line(check)}
    applying = sorted({f["rule"] for f in findings if f["target"] == target and _concerns(f, row)})
    text = f"rules: {len(applying)} finding(s) ({', '.join(applying)})" if applying else "rules: clean"
    return {**verdict, "by": "rules", "ok": not applying, "text": text + (f" ({check['reason']})" if check else "")}


def _concerns(finding: dict, row: dict) -> bool:
    if finding["scope"] == "file":
        return finding["file"] == row["file"]
    return finding["scope"] == "model" or row["variant"] == "int8"


def vendor_line(check: dict) -> str:
    """A vendor check in one line: status, where the nodes ran, the simulated NPU's output against the CPU."""
    tool = f"QNN HTP compiler for {check['soc']} ({check['tool']}, NPU simulated on x86)"
    if check["status"] == "not run" or "compute_nodes_qnn" not in check:
        return f"{tool}: {check['status']}: {check['reason']}"
    total = check["compute_nodes_qnn"] + check["compute_nodes_cpu"]
    return (f"{tool}: {check['status']}, {check['compute_nodes_qnn']}/{total} compute "
            f"nodes on the NPU, {check['psnr_vs_cpu']:.1f} dB vs the CPU provider"
            + (f"; {check['reason']}" if check["reason"] else ""))


def markdown(result: dict) -> str:
    """The verdict per target, per file, and the rules' findings."""
    lines = ["| target | rule findings | confirm with |", "|---|---|---|"]
    lines += [f"| {label} | {result['findings_per_target'][target]} | {TARGETS[target].confirm} |"
              for target, label in result["targets"].items()]
    if result.get("files"):
        lines += ["", "| file | target | by | verdict |", "|---|---|---|---|"]
        lines += [f"| {verdict['file']} | {verdict['target']} | {verdict['by']} | {verdict['text']} |"
                  for verdict in result["files"] if verdict["by"] != "n/a"]
    if result["findings"]:
        lines += ["", "| target | rule | where | why |", "|---|---|---|---|"]
        lines += [f"| {finding['target']} | {finding['rule']} | {finding['where']} | {finding['why']} |"
                  for finding in result["findings"]]
    return "\n".join(lines) + "\n"
