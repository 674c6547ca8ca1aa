"""The ONNX writer: the global context's means become GlobalAveragePool (onnxruntime's int8 kernel), same output."""

from __future__ import annotations

import collections

import numpy as np
import pytest
import torch

from stylectl.pipelines.models.student import StudentNet, student_params
from stylectl.pipelines.models.to_onnx import export_onnx


@pytest.mark.parametrize("dynamic_size", [False, True])
def test_spatial_means_are_written_as_global_average_pools(tmp_path, dynamic_size):
    import onnx
    import onnxruntime

    torch.manual_seed(0)
    student = StudentNet(**student_params(0.25, 2, 1.5, context=True)).eval()
    for module in student.modules():  # a context that is not the identity, so the pooled means matter
        if hasattr(module, "gain") and isinstance(module.gain, torch.nn.Conv2d):
            torch.nn.init.normal_(module.gain.weight, std=0.5)
    path = tmp_path / "student.onnx"
    export_onnx(student, 32, 18, path, dynamic_size=dynamic_size)

    ops = collections.Counter(node.op_type for node in onnx.load(str(path)).graph.node)
    assert ops["GlobalAveragePool"] == 4 and ops["ReduceMean"] == 0  # 2 blocks x (mean, mean square)
    image = torch.rand(1, 3, 32, 32)
    session = onnxruntime.InferenceSession(str(path))
    output = session.run(None, {session.get_inputs()[0].name: image.numpy()})[0]
    np.testing.assert_allclose(output, student(image).detach().numpy(), atol=1e-5)
