"""evaluate's Scorer runs VGG once per output; its distances must be the very ones the loss
functions compute when each runs VGG on its own."""

from __future__ import annotations

import pytest
import torch

from stylectl.pipelines.config import RunConfig
from stylectl.pipelines.data import style_tensor
from stylectl.pipelines.measure.metrics import psnr
from stylectl.pipelines.stages.evaluate import Scorer
from stylectl.pipelines.train.losses import content_distance, gram_distance, style_distance
from tests.conftest import TINY_CONFIG


def test_one_vgg_pass_gives_the_same_distances_as_separate_passes():
    config = RunConfig.model_validate(TINY_CONFIG)
    settings = config.evaluate
    torch.manual_seed(0)
    photos, reference, output = torch.rand(3, 2, 3, 32, 32)
    score = Scorer(config, photos, reference)

    scores = score(output)

    with torch.no_grad():
        gram = gram_distance(score.vgg(output, settings.style_layers), score.vgg(reference, settings.style_layers),
                             settings.style_layers)
    style = style_tensor(config.style.image, config.style.size)
    assert scores["gram_vs_teacher"] == pytest.approx(float(gram), rel=1e-5)
    assert scores["style_distance"] == pytest.approx(
        style_distance(score.vgg, output, style, settings.style_layers), rel=1e-5)
    assert scores["content_distance"] == pytest.approx(
        content_distance(score.vgg, output, photos, settings.content_layers), rel=1e-5)
    assert scores["psnr_vs_teacher"] == pytest.approx(psnr(output, reference))
    assert score(reference)["gram_vs_teacher"] == 0
