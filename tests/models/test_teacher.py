import pytest
import torch
from torch import nn

from stylectl.pipelines.config import TeacherConfig
from stylectl.pipelines.models.cost import count_params
from stylectl.pipelines.models.teacher import TransformerNet


def test_classic_size_has_about_1_7m_parameters():
    cfg = TeacherConfig()
    teacher = TransformerNet(width=cfg.width, res_blocks=cfg.res_blocks, norm=cfg.norm)
    assert 1_600_000 <= count_params(teacher) <= 1_800_000


@pytest.mark.parametrize(
    "norm, norm_type", [("instance", nn.InstanceNorm2d), ("batch", nn.BatchNorm2d), ("none", None)]
)
def test_output_is_an_image_of_the_input_size(norm, norm_type):
    teacher = TransformerNet(width=4, res_blocks=1, norm=norm).eval()
    out = teacher(torch.rand(2, 3, 32, 32))
    assert out.shape == (2, 3, 32, 32)
    assert 0 <= out.min() and out.max() <= 1
    norms = [m for m in teacher.modules() if isinstance(m, (nn.InstanceNorm2d, nn.BatchNorm2d))]
    assert all(isinstance(m, norm_type) for m in norms) and bool(norms) == (norm_type is not None)


def test_spec_params_rebuild_the_same_shapes():
    teacher = TransformerNet(width=8, res_blocks=2, norm="batch")
    assert teacher.spec_params() == {"width": 8, "res_blocks": 2, "norm": "batch"}
    rebuilt = TransformerNet(**teacher.spec_params())
    rebuilt.load_state_dict(teacher.state_dict(), strict=True)


def test_unknown_norm_is_refused():
    with pytest.raises(ValueError, match="layer"):
        TransformerNet(norm="layer")


def test_feature_taps_have_the_advertised_channels():
    teacher = TransformerNet(width=4, res_blocks=2)
    shapes = {}
    for name, module in teacher.feature_taps().items():
        module.register_forward_hook(lambda mod, args, out, name=name: shapes.__setitem__(name, out.shape))
    teacher(torch.rand(1, 3, 32, 32))
    assert shapes == {"down2": (1, 16, 8, 8), "res_last": (1, 16, 8, 8), "up1": (1, 8, 16, 16)}
    assert {name: shape[1] for name, shape in shapes.items()} == teacher.tap_channels()
