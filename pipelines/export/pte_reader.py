"""Read back what an ExecuTorch program (.pte) holds: its delegate calls, the ops left to
ExecuTorch's own kernels, and what runs inside each delegate.

ExecuTorch has no public reader for these yet, so this uses its own deserializers: the
program flatbuffer (`deserialize_pte_binary`), the XNNPACK delegate's graph (its header and
schema, decoded with the `flatc` its wheel ships) and the Core ML delegate's payload (a
flattened .mlpackage folder). What computes in float inside an int8 program cannot be seen
in the program alone: XNNPACK's graph says which of its nodes run on fp32 tensors.
"""

from __future__ import annotations

import json
import re
import tempfile
from pathlib import Path

from stylectl.pipelines.errors import StylectlError

# XNNPACK nodes that only convert between fp32 and int8 at a delegate's edges.
XNNPACK_EDGE_NODES = {"XNNConvert"}


def read_program(path: Path) -> dict:
    """Delegate calls per backend and ops run outside any delegate (`ops`), the delegates, the ops
    left to ExecuTorch's kernels (`portable_ops`), every op computing on float tensors, in those
    kernels or inside XNNPACK (`float_compute_ops`), the input's shape and dtype, and for a Core ML
    delegate the op counts of the Core ML program it carries (`coreml_ops`)."""
    from executorch.exir._serialize._program import deserialize_pte_binary
    from executorch.exir.scalar_type import ScalarType
    from executorch.exir.schema import DelegateCall, KernelCall

    program = deserialize_pte_binary(path.read_bytes()).program
    plan = program.execution_plan[0]
    ops: dict[str, int] = {}
    portable, float_ops = set(), set()
    for instruction in plan.chains[0].instructions:
        call = instruction.instr_args
        if isinstance(call, DelegateCall):
            name = plan.delegates[call.delegate_index].id
        elif isinstance(call, KernelCall):
            name = plan.operators[call.op_index].name
            portable.add(name)
            if any(getattr(plan.values[index].val, "scalar_type", None) == ScalarType.FLOAT for index in call.args):
                float_ops.add(name)
        else:
            continue
        ops[name] = ops.get(name, 0) + 1
    payloads = {}
    for delegate in plan.delegates:
        payloads.setdefault(delegate.id, []).append(bytes(program.backend_delegate_data[delegate.processed.index].data))
    for data in payloads.get("XnnpackBackend", []):
        float_ops |= {f"xnnpack {node}" for node in _xnnpack_float_nodes(data)}
    entry = plan.values[plan.inputs[0]].val
    info = {"ops": ops, "delegates": sorted(payloads), "portable_ops": sorted(portable),
            "float_compute_ops": sorted(float_ops), "input_shape": list(entry.sizes),
            "input_dtype": "float32" if entry.scalar_type == ScalarType.FLOAT else ScalarType(entry.scalar_type).name}
    if "CoreMLBackend" in payloads:
        info["coreml_ops"] = _coreml_ops(payloads["CoreMLBackend"][0])
    return info


def _xnnpack_float_nodes(data: bytes) -> set[str]:
    """Node types of one XNNPACK delegate that output fp32 tensors (edge conversions aside)."""
    from executorch.backends.xnnpack.serialization import xnnpack_graph_serialize
    from executorch.exir._serialize._flatbuffer import _flatc_decompile

    header = xnnpack_graph_serialize.XNNHeader.from_bytes(data[:xnnpack_graph_serialize.XNNHeader.EXPECTED_LENGTH])
    schema = Path(xnnpack_graph_serialize.__file__).with_name("schema.fbs")
    with tempfile.TemporaryDirectory() as folder:
        graph_file = Path(folder) / "graph.bin"
        graph_file.write_bytes(data[header.flatbuffer_offset:header.flatbuffer_offset + header.flatbuffer_size])
        _flatc_decompile(folder, str(schema), str(graph_file))
        text = (Path(folder) / "graph.json").read_text()
    # flatc writes infinite clamp bounds as bare inf, which JSON has no word for
    graph = json.loads(re.sub(r"(-?)\binf\b", r"\1Infinity", text))
    datatypes = {}
    for value in graph["xvalues"]:
        tensor = value["xvalue_union"].get("tensor_value", value["xvalue_union"])
        datatypes[tensor["id_out"]] = tensor["datatype"]
    return {node["xnode_union_type"].removeprefix("XNN") for node in graph["xnodes"]
            if node["xnode_union_type"] not in XNNPACK_EDGE_NODES
            and datatypes.get(node["xnode_union"].get("output_id")) == "xnn_datatype_fp32"}


def _coreml_ops(data: bytes) -> dict[str, int]:
    """Op counts of the Core ML program a CoreMLBackend delegate carries (a flattened .mlpackage)."""
    import coremltools as ct
    from executorch.backends.apple.coreml import executorchcoreml

    ops: dict[str, int] = {}
    with tempfile.TemporaryDirectory() as folder:
        if not executorchcoreml.unflatten_directory_contents(data, folder):
            raise StylectlError("the CoreMLBackend delegate's payload is not a Core ML model folder")
        spec = ct.utils.load_spec(str(next(Path(folder).rglob("model.mlpackage"))))
    function = spec.mlProgram.functions["main"]
    for operation in function.block_specializations[function.opset].operations:
        ops[operation.type] = ops.get(operation.type, 0) + 1
    return ops
