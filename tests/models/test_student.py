import pytest
import torch
from torch import nn

from stylectl.pipelines.config import StudentConfig, TeacherConfig
from stylectl.pipelines.models.cost import count_macs
from stylectl.pipelines.models.student import StudentNet, student_params, student_params_for
from stylectl.pipelines.models.teacher import TransformerNet

LEGACY = {"kernel": 3, "dilation": 1, "low": [], "context": [], "skip": False}
TINY = {"stem": 4, "down": [8, 12], "block_mid": [16, 8], "up": [8, 4], "head": "conv", **LEGACY}
TINY_SHUFFLE = {"stem": 4, "down": [8, 12], "block_mid": [16, 8], "up": [8], "head": "pixel_shuffle", **LEGACY}
TINY_WIDE = {**TINY_SHUFFLE, "kernel": 5, "dilation": 2, "low": [16, 24, 20], "context": [8, 4, 8, 8], "skip": True}


def default_student() -> StudentNet:
    return StudentNet(**student_params_for(StudentConfig()))


def classic_teacher() -> TransformerNet:
    cfg = TeacherConfig()
    return TransformerNet(width=cfg.width, res_blocks=cfg.res_blocks, norm=cfg.norm)


@pytest.mark.parametrize("image_size", [256, 64])
def test_default_student_costs_at_most_a_25th_of_the_teacher(image_size):
    student_macs = count_macs(default_student(), image_size)
    teacher_macs = count_macs(classic_teacher(), image_size)
    assert student_macs <= teacher_macs / 25
    # The budget is meant to be spent: a much smaller default would waste quality.
    assert student_macs >= teacher_macs / 30


def test_has_only_npu_friendly_modules():
    banned = (nn.InstanceNorm2d, nn.ReflectionPad2d, nn.ConvTranspose2d, nn.LayerNorm, nn.GroupNorm)
    student = default_student()
    assert not [m for m in student.modules() if isinstance(m, banned)]
    assert all(m.padding_mode == "zeros" for m in student.modules() if isinstance(m, nn.Conv2d))
    assert {type(m) for m in student.modules() if not list(m.children())} <= {
        nn.Conv2d, nn.BatchNorm2d, nn.ReLU, nn.Upsample, nn.PixelShuffle, nn.AdaptiveAvgPool2d, nn.Identity
    }
    pools = [m for m in student.modules() if isinstance(m, nn.AdaptiveAvgPool2d)]
    assert all(m.output_size in (1, (1, 1)) for m in pools)  # global average pooling only


@pytest.mark.parametrize("params", [TINY, TINY_SHUFFLE, TINY_WIDE], ids=["conv", "pixel_shuffle", "wide"])
def test_output_is_an_image_of_the_input_size(params):
    out = StudentNet(**params).eval()(torch.rand(2, 3, 32, 32))
    assert out.shape == (2, 3, 32, 32)
    assert 0 <= out.min() and out.max() <= 1


@pytest.mark.parametrize("params", [TINY, TINY_SHUFFLE, TINY_WIDE], ids=["conv", "pixel_shuffle", "wide"])
def test_spec_params_read_the_layer_shapes(params):
    student = StudentNet(**params)
    assert student.spec_params() == params
    StudentNet(**student.spec_params()).load_state_dict(student.state_dict(), strict=True)


def test_specs_saved_before_the_options_existed_build_what_they_were():
    old_spec = {key: value for key, value in TINY.items() if key not in ("head", *LEGACY)}
    assert StudentNet(**old_spec).spec_params() == TINY


def test_global_context_sees_the_whole_image():
    """A change far away moves the output through the pooled statistics, not just nearby pixels."""
    torch.manual_seed(0)
    student = StudentNet(**TINY_WIDE)
    for module in student.modules():
        if type(module).__name__ == "GlobalContext":
            torch.nn.init.normal_(module.gain.weight, std=0.5)
    student_no_context = StudentNet(**{**TINY_WIDE, "context": [], "low": []})
    image = torch.rand(1, 3, 64, 64)
    changed = image.clone()
    changed[..., 48:, 48:] = 1.0  # far beyond the receptive field of the top-left corner without context
    for model in (student, student_no_context):
        for norm in model.modules():  # BatchNorm statistics of real activations, so features are of unit scale
            if isinstance(norm, nn.BatchNorm2d):
                norm.momentum = None
        with torch.no_grad():
            model.train()(torch.rand(8, 3, 64, 64))
        model.eval()
    assert (student(image) - student(changed))[..., :8, :8].abs().max() > 1e-3
    assert (student_no_context(image) - student_no_context(changed))[..., :8, :8].abs().max() == 0


def test_global_context_starts_as_the_identity():
    student = StudentNet(**TINY_WIDE).eval()
    block = student.blocks[0]
    features = torch.rand(1, block.depthwise.conv.out_channels, 8, 8)
    assert torch.equal(block.context(features), features)


def test_pixel_shuffle_head_runs_nothing_but_the_stem_at_full_resolution():
    resolutions = {}
    student = StudentNet(**TINY_SHUFFLE).eval()
    for name, module in student.named_modules():
        if isinstance(module, nn.Conv2d):
            module.register_forward_hook(lambda mod, args, out, name=name: resolutions.__setitem__(name, out.shape[-1]))
    student(torch.rand(1, 3, 32, 32))
    assert [name for name, side in resolutions.items() if side == 32] == ["stem.conv"]


def test_student_params_scale_and_round_to_multiples_of_4():
    assert student_params(1.0, 3, 1.5, "conv") == {"stem": 16, "down": [32, 72], "block_mid": [108] * 3,
                                                   "up": [32, 16], "head": "conv", **LEGACY}
    half = student_params(0.5, 2, 1.0, "conv")
    assert half == {"stem": 8, "down": [16, 36], "block_mid": [36, 36], "up": [16, 8], "head": "conv", **LEGACY}
    assert student_params(0.01, 1, 1.0, "conv") == {"stem": 4, "down": [4, 4], "block_mid": [4], "up": [4, 4],
                                                    "head": "conv", **LEGACY}
    assert student_params(1.0, 3, 1.5)["up"] == [32]  # the pixel-shuffle head (default) has one up stage
    wide = student_params(1.0, 2, 1.5, low_blocks=2, context=True)
    assert wide["low"] == [96, 144, 144]  # the 1/8 stage's width, then its blocks'
    assert wide["context"] == [28, 28, 36, 36]  # a quarter of each block's width, 1/4 blocks first


def test_feature_taps_have_the_advertised_channels():
    student = StudentNet(**TINY)
    shapes = {}
    for name, module in student.feature_taps().items():
        module.register_forward_hook(lambda mod, args, out, name=name: shapes.__setitem__(name, out.shape))
    student(torch.rand(1, 3, 32, 32))
    assert shapes == {"down2": (1, 12, 8, 8), "res_last": (1, 12, 8, 8), "up1": (1, 8, 16, 16)}
    assert {name: shape[1] for name, shape in shapes.items()} == student.tap_channels()


def test_pruned_context_widths_survive_the_spec():
    """Pruning may narrow a context's hidden layer below what the block width would give: the spec keeps it."""
    params = {**TINY_WIDE, "context": [4, 4, 4, 4]}
    student = StudentNet(**params)
    assert student.spec_params() == params
    StudentNet(**student.spec_params()).load_state_dict(student.state_dict(), strict=True)


def test_low_stage_taps_the_last_feature_before_upsampling():
    student = StudentNet(**TINY_WIDE)
    assert student.feature_taps()["res_last"] is student.low


def test_bad_stage_counts_are_refused():
    with pytest.raises(ValueError, match="2 down"):
        StudentNet(stem=4, down=[8], block_mid=[8], up=[8, 4])


def _pixels_seen_by_the_corner(student: StudentNet) -> int:
    """How many input pixels the top-left output pixel depends on (non-zero gradient)."""
    image = torch.rand(1, 3, 64, 64, requires_grad=True)
    student.eval()(image)[0, :, 0, 0].sum().backward()
    return int((image.grad.abs().sum(1) > 0).sum())


def test_dilation_widens_the_receptive_field_at_the_same_cost():
    torch.manual_seed(0)
    plain, dilated = StudentNet(**TINY_SHUFFLE), StudentNet(**{**TINY_SHUFFLE, "dilation": 2})
    assert count_macs(dilated, 64) == count_macs(plain, 64)
    assert _pixels_seen_by_the_corner(dilated) > _pixels_seen_by_the_corner(plain)


class _Silenced(nn.Module):
    """Stands in for down2: nothing passes through the 1/4-resolution bottleneck."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.zeros(x.shape[0], 12, x.shape[2] // 2, x.shape[3] // 2)


@pytest.mark.parametrize("head", ["conv", "pixel_shuffle"])
def test_skip_carries_the_image_past_the_bottleneck_for_one_add(head):
    torch.manual_seed(0)
    params = TINY if head == "conv" else TINY_SHUFFLE
    plain, skipped = StudentNet(**params).eval(), StudentNet(**{**params, "skip": True}).eval()
    assert count_macs(skipped, 64) == count_macs(plain, 64)  # an add, no conv
    images = torch.rand(2, 3, 32, 32)
    for student in (plain, skipped):
        student.down2 = _Silenced()
    plain_out, skipped_out = plain(images), skipped(images)
    assert torch.allclose(plain_out[0], plain_out[1])  # without the skip, the image never reaches the output
    assert not torch.allclose(skipped_out[0], skipped_out[1], atol=1e-3)


def test_skip_keeps_the_convs_feeding_its_add_out_of_equalization():
    pairs = StudentNet(**{**TINY_SHUFFLE, "skip": True}).equalization_pairs()
    assert ("down1.pointwise.conv", "down2.depthwise.conv") not in pairs and ("up1.pointwise.conv", "head") not in pairs
    assert ("down1.pointwise.conv", "down2.depthwise.conv") in StudentNet(**TINY_SHUFFLE).equalization_pairs()


def test_skip_needs_matching_channels():
    with pytest.raises(ValueError, match="skip"):
        StudentNet(**{**TINY_SHUFFLE, "up": [12], "skip": True})
