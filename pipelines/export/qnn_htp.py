"""Qualcomm's own compiler as the judge of NPU-readiness for ONNX files.

The onnxruntime-qnn wheel carries Qualcomm's QNN HTP backend for x86: the Hexagon NPU's graph
compiler and a simulation of the NPU. Each ONNX file is opened in onnxruntime with the QNN
execution provider on that backend. The verdict is the vendor's: the graph finalizes or fails
with QNN's own error; onnxruntime's assignment record says which nodes QNN took and which fell
back to the CPU; the simulated NPU's output on the held-out photos is compared with the CPU
execution provider's. Float files run with the provider's fp16 precision (as HTP computes
them); that option needs the SoC named, so every file is compiled for one (`export.qnn_soc`).

A file counts as compiled only when that record shows QNN holding all of its compute nodes;
onnxruntime's fallback to a CPU-only session (which would hide the vendor's error) is off.
"""

from __future__ import annotations

import importlib.util
from collections import Counter
from pathlib import Path

import torch

from stylectl.pipelines.measure.latency import run_onnx, run_session
from stylectl.pipelines.measure.metrics import psnr

TARGET = "qnn_htp"
QNN = "QNNExecutionProvider"
# QNN's SoC ids (QcomChipset in ExecuTorch's Qualcomm backend) for the phones' Snapdragon 8 series.
SOCS = {"SM8450": 36, "SM8550": 43, "SM8650": 57, "SM8750": 69, "SM8850": 87}
# Nodes that only convert tensors at the file's edges (float <-> int8 or fp16); the rest compute.
EDGE_OPS = {"QuantizeLinear", "DequantizeLinear", "Cast"}


def unavailable() -> str | None:
    """None when the QNN HTP backend can run here; otherwise why not (shown as the verdict)."""
    if importlib.util.find_spec("onnxruntime_qnn") is None:
        return "not run (onnxruntime-qnn is not installed)"
    return None


def check(path: Path, variant: str, images: torch.Tensor, soc: str) -> dict:
    """The vendor's verdict on one ONNX file: status (compiled, partial, failed), where its nodes
    run, and the simulated NPU's PSNR against onnxruntime's CPU provider on `images`."""
    result, simulated = simulate(path, variant != "int8", images, soc)
    if simulated is not None:
        result["psnr_vs_cpu"] = psnr(simulated, run_onnx(path, images))
    return result


def simulate(path: Path, fp16: bool, images: torch.Tensor, soc: str) -> tuple[dict, torch.Tensor | None]:
    """Compile one ONNX file for the HTP and run `images` through the simulated NPU: the verdict
    (status, reason, node placement) and the simulated output (None when it did not run).
    `fp16`: float files run in the HTP's fp16 precision; QDQ files run at their own bits."""
    reason = unavailable()
    if reason:
        return {"target": TARGET, "soc": soc, "tool": "onnxruntime-qnn", "status": "not run", "reason": reason}, None
    result = {"target": TARGET, "soc": soc,
              "tool": f"onnxruntime-qnn {_version()}"}
    try:
        session = _session(path, fp16=fp16, soc=SOCS[soc])
        placed = placement(session)
        simulated = run_session(session, images)
    except Exception as error:  # noqa: BLE001 - the vendor's refusal is the result
        return {**result, "status": "failed", "reason": str(error).strip().splitlines()[0]}, None
    on_qnn, on_cpu = placed.get(QNN, Counter()), _cpu_compute(placed)
    return {**result, "status": "compiled" if on_qnn and not on_cpu else "partial" if on_qnn else "failed",
            "reason": "" if not on_cpu else f"on the CPU: {', '.join(f'{op} x{n}' for op, n in sorted(on_cpu.items()))}",
            "compute_nodes_qnn": _compute(on_qnn), "compute_nodes_cpu": sum(on_cpu.values())}, simulated


def placement(session) -> dict[str, Counter]:
    """Op types per execution provider, from onnxruntime's graph assignment record."""
    placed: dict[str, Counter] = {}
    for subgraph in session.get_provider_graph_assignment_info():
        placed.setdefault(subgraph.ep_name, Counter()).update(node.op_type for node in subgraph.get_nodes())
    return placed


def _session(path: Path, fp16: bool, soc: int):
    import onnxruntime
    import onnxruntime_qnn

    _register()
    options = onnxruntime.SessionOptions()
    options.add_session_config_entry("session.record_ep_graph_assignment_info", "1")
    options.log_severity_level = 3  # QNN's per-node warnings would flood the terminal
    devices = [device for device in onnxruntime.get_ep_devices() if device.ep_name == onnxruntime_qnn.get_ep_name()]
    provider = {"backend_path": onnxruntime_qnn.get_qnn_htp_path(), "soc_model": str(soc)}
    if fp16:
        provider["enable_htp_fp16_precision"] = "1"
    options.add_provider_for_devices(devices, provider)
    return onnxruntime.InferenceSession(str(path), options, enable_fallback=0)  # an error, not a silent CPU run


_registered = False


def _register() -> None:
    """Register the plugin provider once per process (a second registration is an error)."""
    global _registered
    if not _registered:
        import onnxruntime
        import onnxruntime_qnn

        onnxruntime.register_execution_provider_library(onnxruntime_qnn.get_ep_name(), onnxruntime_qnn.get_library_path())
        _registered = True


def _cpu_compute(placed: dict[str, Counter]) -> Counter:
    cpu = Counter()
    for provider, ops in placed.items():
        if provider != QNN:
            cpu.update({op: count for op, count in ops.items() if op not in EDGE_OPS})
    return cpu


def _compute(ops: Counter) -> int:
    return sum(count for op, count in ops.items() if op not in EDGE_OPS)


def _version() -> str:
    from importlib.metadata import version

    return version("onnxruntime-qnn")
