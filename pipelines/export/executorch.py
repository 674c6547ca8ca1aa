"""ExecuTorch programs (.pte), PyTorch's on-device runtime: fp32 and int8 delegated to XNNPACK
and run here in executorch.runtime, and a Core ML-delegated program for Apple devices.

Every variant is `torch.export` -> `to_edge_transform_and_lower(partitioner)` ->
`to_executorch()`, from the same folded fp32 student as the other formats. The int8 program
is the shipped scheme re-applied with ExecuTorch's XNNPACKQuantizer (executorch_quantizer.py
says which fields map) on the same calibration crops; its parity is measured against that PT2E
simulation. The Core ML program (fp16 compute) needs Core ML to run: off macOS it is checked
structurally (one CoreMLBackend delegate holding the whole graph, convs inside) and its parity
says so. XNNPACK has no nearest-neighbour resize, so the student's upsample runs in ExecuTorch's
portable kernel, in float, between two XNNPACK delegates: `inspect` lists such ops, and
which ops inside XNNPACK compute in float.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from stylectl.pipelines.artifacts import write_atomic
from stylectl.pipelines.export.source import ExportSource
from stylectl.pipelines.measure.latency import Timed, time_inference
from stylectl.pipelines.quiet import converter_output_silenced

RUNTIME = "executorch.runtime"
BACKENDS = {"fp32": "XnnpackBackend", "int8": "XnnpackBackend", "coreml": "CoreMLBackend"}
NEEDS_MACOS = "not run (needs macOS)"


def write(variant: str, source: ExportSource, path: Path, options: dict, opset: int) -> nn.Module:
    """Lower one variant and write the program atomically; returns the torch model it must reproduce."""
    from executorch.exir import to_edge_transform_and_lower

    reference = _int8_simulation(source) if variant == "int8" else source.fp32
    exported = torch.export.export(reference, (source.example(),))
    program = to_edge_transform_and_lower(exported, partitioner=[_partitioner(variant, options)]).to_executorch()
    write_atomic(path, program.buffer)
    return reference


def _partitioner(variant: str, options: dict):
    if variant != "coreml":
        from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner

        return XnnpackPartitioner()
    import coremltools as ct
    from executorch.backends.apple.coreml.compiler import CoreMLBackend
    from executorch.backends.apple.coreml.partition import CoreMLPartitioner

    specs = CoreMLBackend.generate_compile_specs(
        compute_precision=ct.precision.FLOAT16,
        minimum_deployment_target=getattr(ct.target, options["minimum_deployment_target"]))
    return CoreMLPartitioner(compile_specs=specs)


def _int8_simulation(source: ExportSource) -> nn.Module:
    """The shipped scheme under XNNPACKQuantizer, calibrated on the quantize stage's crops."""
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e

    from stylectl.pipelines.export.executorch_quantizer import xnnpack_quantizer
    from stylectl.pipelines.quant.build import calibrate
    from stylectl.pipelines.quant.pt2e import float_source

    quantizer = xnnpack_quantizer(source.scheme)
    model = float_source(source.fp32, source.scheme, source.calibration)
    prepared = prepare_pt2e(torch.export.export(model, (source.example(),)).module(), quantizer)
    calibrate(prepared, source.calibration)
    return convert_pt2e(prepared)


def _load(path: Path, threads: int):
    """The program (kept alive by the caller) and its forward method, on a `threads`-thread pool."""
    with converter_output_silenced():  # cpuinfo prints what it cannot read under /sys on VMs
        from executorch.extension.pybindings import portable_lib
        from executorch.runtime import Runtime

        # XNNPACK runs on ExecuTorch's one process-wide pool; this is the only knob it has.
        portable_lib._unsafe_reset_threadpool(threads)
        program = Runtime.get().load_program(str(path))
    return program, program.load_method("forward")


def run(path: Path, images: torch.Tensor, threads: int, options: dict) -> torch.Tensor:
    """Outputs for a batch of NCHW float images, one image per call."""
    _, method = _load(path, threads)
    return torch.cat([method.execute([image[None].contiguous()])[0] for image in images])


def time(path: Path, image: torch.Tensor, threads: int, warmup: int, runs: int, options: dict) -> dict:
    """Latency across the shared boundary (measure/latency.py): see `prepare`."""
    timed = prepare(path, image, threads, options)
    return {**time_inference(timed.infer, timed.array, warmup, runs), "runtime": timed.runtime}


def prepare(path: Path, image: torch.Tensor, threads: int, options: dict) -> Timed:
    """The program, loaded once, ready to time across the shared boundary (measure/latency.py): execute()
    takes the NumPy input (wrapped, not copied, as a tensor) and returns a fresh output tensor, read out
    as NumPy. The program object is kept alive with the method it owns."""
    program, method = _load(path, threads)
    return Timed(lambda array, _program=program: method.execute([torch.from_numpy(array)])[0].numpy(),
                 image[None].contiguous().numpy(), RUNTIME)


def inspect(path: Path) -> dict:
    """Read back from the program (pte_reader.py): delegates, the ops left to ExecuTorch's kernels,
    every op computing in float (there or inside XNNPACK), the input, a Core ML delegate's ops."""
    from stylectl.pipelines.export.pte_reader import read_program

    return read_program(path)


def runnable_here(variant: str) -> str | None:
    """None when this machine's ExecuTorch runtime has the variant's backend (XNNPACK ships in
    every wheel; Core ML only where Core ML exists); otherwise why the file is not run."""
    with converter_output_silenced():
        from executorch.runtime import Runtime

        registered = Runtime.get().backend_registry.registered_backend_names
    if BACKENDS[variant] in registered:
        return None
    return NEEDS_MACOS if variant == "coreml" else f"not run (this ExecuTorch runtime has no {BACKENDS[variant]})"


def structure_problems(variant: str, info: dict) -> list[str]:
    """The variant's backend must hold the graph: a Core ML program must be one delegate with
    convs inside and nothing left to ExecuTorch's kernels (it cannot be run here to show it)."""
    backend = BACKENDS[variant]
    if backend not in info["delegates"]:
        return [f"no {backend} delegate in the program"]
    problems = []
    if variant == "coreml":
        if info["portable_ops"]:
            problems.append(f"ops outside the Core ML delegate: {info['portable_ops']}")
        if "conv" not in info.get("coreml_ops", {}):
            problems.append("no conv ops in the delegated Core ML program")
    return problems
