"""BatchNorm folding keeps the output and removes every BatchNorm."""

import torch
from torch import nn

from stylectl.pipelines.models.fold import fold_batchnorm
from stylectl.pipelines.models.student import StudentNet, student_params


def test_folded_student_matches_and_has_no_batchnorm():
    torch.manual_seed(0)
    student = StudentNet(**student_params(0.5, 2, 1.5))
    student.train()
    student(torch.rand(4, 3, 32, 32))  # give BatchNorm non-trivial running statistics
    student.eval()
    folded = fold_batchnorm(student)
    image = torch.rand(1, 3, 32, 32)
    assert torch.allclose(folded(image), student(image), atol=1e-5)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in folded.modules())
    assert any(isinstance(m, nn.BatchNorm2d) for m in student.modules())  # the original is untouched
