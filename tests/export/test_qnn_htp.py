"""The QNN HTP compile check on files it cannot take: the vendor's refusal is a verdict, not a crash."""

from __future__ import annotations

import torch

from stylectl.pipelines.config import ExportConfig
from stylectl.pipelines.export import qnn_htp


def test_a_file_the_compiler_refuses_is_a_failed_verdict_with_its_reason(tmp_path):
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"not an onnx file")
    result = qnn_htp.check(broken, "int8", torch.rand(1, 3, 8, 8), "SM8750")
    assert result["status"] == "failed" and result["reason"] and result["target"] == "qnn_htp"


def test_the_configurable_socs_are_the_ones_the_check_knows():
    socs = ExportConfig.model_fields["qnn_soc"].annotation.__args__
    assert set(socs) == set(qnn_htp.SOCS)
