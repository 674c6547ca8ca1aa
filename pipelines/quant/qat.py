"""Quantization-aware training: fine-tune a fake-quantized student against the teacher.

A plain loop rather than Lightning: an exported PT2E graph cannot switch train/eval mode
through `nn.Module.train()` (which the Trainer calls); torchao's move_exported_model_to_*
helpers must be used instead, and the run is a few hundred batches with no checkpoints.
"""

from __future__ import annotations

import torch

from stylectl.pipelines.config import SchemeConfig
from stylectl.pipelines.progress import Reporter
from stylectl.pipelines.train.datamodule import RandomCropDataset
from stylectl.pipelines.train.distill_loss import DistillationLoss


def finetune(loss: DistillationLoss, scheme: SchemeConfig, crops: RandomCropDataset, reporter: Reporter) -> float:
    """Train `loss.student` (a QAT-prepared graph) for `scheme.qat_steps` batches; return the last loss.

    Uses the distillation terms of the student section except feature distillation (the
    graph has no named layers to tap).
    """
    from torchao.quantization.pt2e import move_exported_model_to_eval, move_exported_model_to_train

    graph = loss.student
    move_exported_model_to_train(graph)
    optimizer = torch.optim.Adam(graph.parameters(), lr=scheme.qat_lr)
    last = float("nan")
    with reporter.task(f"QAT {scheme.name}", scheme.qat_steps) as task:
        for step in range(scheme.qat_steps):
            first = step * scheme.qat_batch_size
            batch = torch.stack([crops[first + index] for index in range(scheme.qat_batch_size)])
            total = loss(batch)[0]["total"]
            optimizer.zero_grad()
            total.backward()
            optimizer.step()
            last = float(total.detach())
            task.update(step + 1, loss=last)
    move_exported_model_to_eval(graph)
    return last
