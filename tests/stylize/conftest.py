"""Tiny model files for stylize: an inverting net (output = 1 - input) as ONNX graphs with a fixed
32x32 input (tiled) and with a dynamic size (padded), so every output pixel has a known value and a
misplaced tile or pad shows as wrong pixels. Written with onnx.helper: no export to wait for."""

from __future__ import annotations

import numpy as np
import pytest

TILE = 32


def _invert_onnx(path, height, width) -> None:
    import onnx
    from onnx import TensorProto, helper

    one = helper.make_tensor("one", TensorProto.FLOAT, [], [1.0])
    graph = helper.make_graph([helper.make_node("Sub", ["one", "image"], ["stylized"])], "invert",
                              [helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 3, height, width])],
                              [helper.make_tensor_value_info("stylized", TensorProto.FLOAT, [1, 3, height, width])],
                              [one])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)], ir_version=10)  # onnxruntime reads <= 13
    onnx.save(model, str(path))


@pytest.fixture(scope="session")
def invert_files(tmp_path_factory) -> dict:
    """{"fixed": path, "dynamic": path} of the inverting net."""
    folder = tmp_path_factory.mktemp("invert_models")
    files = {"fixed": folder / "invert_fixed.onnx", "dynamic": folder / "invert_dynamic.onnx"}
    _invert_onnx(files["fixed"], TILE, TILE)
    _invert_onnx(files["dynamic"], "height", "width")
    return files


def random_rgb(height: int, width: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)
