import pytest
import torch

from stylectl.pipelines.errors import UserInputError
from stylectl.pipelines.train.losses import (
    PerceptualLoss,
    content_distance,
    gram_matrix,
    perceptual_distance,
    pixel_loss,
    gram_distance,
    style_distance,
    style_grams,
    style_loss,
    total_variation,
)
from stylectl.pipelines.models.vgg import VGGFeatures

STYLE_LAYERS = ["relu1_1", "relu2_1"]
CONTENT_LAYERS = ["relu2_1"]


@pytest.fixture(scope="module")
def vgg():
    return VGGFeatures(STYLE_LAYERS)


@pytest.fixture(scope="module")
def style_image():
    # Stripes: a style with strong, known channel correlations.
    torch.manual_seed(0)
    return (torch.arange(32).float().remainder(4) / 3).expand(3, 32, 32) * torch.rand(3, 1, 1)


def test_gram_matrix_of_a_known_tensor():
    features = torch.tensor([[1.0, 2.0], [3.0, 4.0]]).view(1, 2, 1, 2)
    expected = torch.tensor([[5.0, 11.0], [11.0, 25.0]]) / (2 * 1 * 2)
    assert torch.allclose(gram_matrix(features), expected.unsqueeze(0))
    # Normalised by C*H*W: all-ones features give 1/C whatever the spatial size.
    assert torch.allclose(gram_matrix(torch.ones(3, 4, 5, 6)), torch.full((3, 4, 4), 0.25))


def test_style_loss_is_zero_for_the_style_image_only(vgg, style_image):
    grams = style_grams(vgg, style_image, STYLE_LAYERS)
    assert style_loss(vgg(style_image.unsqueeze(0)), grams).item() == pytest.approx(0, abs=1e-6)
    assert style_loss(vgg(torch.rand(2, 3, 32, 32)), grams).item() > 0


def test_total_variation():
    assert total_variation(torch.full((1, 3, 8, 8), 0.5)).item() == 0
    vertical_stripes = torch.tensor([[0.0, 1.0], [0.0, 1.0]]).view(1, 1, 2, 2)
    assert total_variation(vertical_stripes).item() == pytest.approx(1.0)


def test_pixel_loss_kinds():
    a, b = torch.zeros(1, 3, 4, 4), torch.full((1, 3, 4, 4), 0.5)
    assert pixel_loss(a, b, "l1").item() == pytest.approx(0.5)
    assert pixel_loss(a, b, "l2").item() == pytest.approx(0.25)
    with pytest.raises(UserInputError, match="huber"):
        pixel_loss(a, b, "huber")


def test_perceptual_loss_terms_and_gradient(vgg, style_image):
    loss = PerceptualLoss(
        vgg, style_image, CONTENT_LAYERS, STYLE_LAYERS, content_weight=2.0, style_weight=3.0, tv_weight=5.0
    )
    content = torch.rand(2, 3, 32, 32)
    output = torch.rand(2, 3, 32, 32, requires_grad=True)
    terms = loss(output, content)
    assert set(terms) == {"content", "style", "tv", "total"}
    assert torch.allclose(terms["total"], 2 * terms["content"] + 3 * terms["style"] + 5 * terms["tv"])
    terms["total"].backward()
    assert output.grad.abs().sum() > 0
    assert not loss.state_dict()  # Grams and VGG weights are rebuilt, not checkpointed


def test_perceptual_loss_content_and_style_vanish_at_their_targets(vgg, style_image):
    loss = PerceptualLoss(
        vgg, style_image, CONTENT_LAYERS, STYLE_LAYERS, content_weight=1.0, style_weight=1.0, tv_weight=0.0
    )
    terms = loss(style_image.unsqueeze(0), style_image.unsqueeze(0))
    assert terms["content"].item() == 0
    assert terms["style"].item() == pytest.approx(0, abs=1e-6)


def test_distances_are_floats_that_vanish_at_their_targets(vgg, style_image):
    batch = style_image.expand(2, -1, -1, -1)
    photos = torch.rand(2, 3, 32, 32)
    assert style_distance(vgg, batch, style_image, STYLE_LAYERS) == pytest.approx(0, abs=1e-6)
    assert style_distance(vgg, photos, style_image, STYLE_LAYERS) > 0
    assert content_distance(vgg, photos, photos, CONTENT_LAYERS) == 0
    assert isinstance(content_distance(vgg, batch, photos, CONTENT_LAYERS), float)
    assert perceptual_distance(vgg, batch, photos, CONTENT_LAYERS).item() > 0


def test_gram_distance_compares_textures_image_by_image(vgg, style_image):
    photos = torch.rand(2, 3, 32, 32)
    features = vgg(photos, STYLE_LAYERS)
    assert gram_distance(features, features, STYLE_LAYERS).item() == 0
    # the same pixels in another layout have the same Gram matrices (near zero), unlike other images
    shuffled = vgg(photos.flip(-1), STYLE_LAYERS)
    other = vgg(style_image.expand(2, -1, -1, -1)[..., :32, :32], STYLE_LAYERS)
    assert gram_distance(features, shuffled, STYLE_LAYERS) < gram_distance(features, other, STYLE_LAYERS) / 10
