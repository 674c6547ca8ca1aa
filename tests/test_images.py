"""pipelines/images.py: every kind of file a camera or editor writes reads as the picture it shows.

Each case writes a file with Pillow and checks the 8-bit sRGB pixels against what a colour-managed
viewer shows; the ICC case uses a profile with red and green swapped (tests/icc.py), so honouring
the profile visibly changes the pixels."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from stylectl.pipelines.errors import UserInputError
from stylectl.pipelines.images import open_image
from tests.icc import swapped_primaries


def _pixels(path) -> np.ndarray:
    return np.asarray(open_image(path).rgb).astype(int)


def test_16_bit_grey_keeps_its_tones(tmp_path):
    ramp = np.linspace(0, 65535, 64 * 64).reshape(64, 64).astype(np.uint16)
    Image.fromarray(ramp).save(tmp_path / "grey16.png")
    assert Image.open(tmp_path / "grey16.png").mode == "I;16"  # the mode Pillow's RGB conversion clips to white
    pixels = _pixels(tmp_path / "grey16.png")
    assert pixels.shape == (64, 64, 3)
    np.testing.assert_allclose(pixels[..., 0], ramp / 257, atol=1)
    assert (pixels == 255).mean() < 0.01


def test_32_bit_float_grey_in_zero_to_one_is_scaled(tmp_path):
    Image.fromarray(np.full((8, 8), 0.5, np.float32), mode="F").save(tmp_path / "float.tif")
    assert set(np.unique(_pixels(tmp_path / "float.tif"))) == {128}


def test_16_bit_rgb_png_keeps_its_colour(tmp_path):
    rgb16 = np.zeros((4, 4, 3), ">u2")
    rgb16[..., 0] = 51400  # 200 in 8 bits
    Image.frombytes("RGB", (4, 4), rgb16.tobytes(), "raw", "RGB;16B").save(tmp_path / "rgb16.png")
    assert tuple(_pixels(tmp_path / "rgb16.png")[0, 0]) == (200, 0, 0)


@pytest.mark.parametrize("mode, value, expected", [
    ("L", 90, (90, 90, 90)),
    ("1", 1, (255, 255, 255)),
    ("CMYK", (0, 255, 255, 0), (255, 0, 0)),
    ("LAB", (128, 128, 128), (119, 119, 119)),  # L* 50, a* = b* = 0: mid grey
])
def test_modes_become_srgb(tmp_path, mode, value, expected):
    path = tmp_path / ("image.jpg" if mode == "CMYK" else "image.tif")
    Image.new(mode, (6, 6), value).save(path)
    assert np.abs(_pixels(path)[0, 0] - expected).max() <= 2


def test_palette_transparency_is_returned_apart(tmp_path):
    palette = Image.fromarray(np.arange(64, dtype=np.uint8).reshape(8, 8)).convert("P")
    palette.save(tmp_path / "palette.png", transparency=0)
    picture = open_image(tmp_path / "palette.png")
    assert picture.rgb.mode == "RGB" and picture.alpha is not None
    assert np.asarray(picture.alpha)[0, 0] == 0 and np.asarray(picture.alpha)[7, 7] == 255


@pytest.mark.parametrize("suffix", [".png", ".jpg", ".tif"])
def test_icc_profile_is_converted_to_srgb(tmp_path, suffix):
    path = tmp_path / f"tagged{suffix}"
    Image.new("RGB", (8, 8), (200, 30, 30)).save(path, icc_profile=swapped_primaries())
    red, green, blue = _pixels(path)[4, 4]
    assert green > 180 and red < 50 and blue < 50  # the stored red is green in this profile's space


def test_broken_icc_profile_falls_back_to_the_pixels(tmp_path):
    Image.new("RGB", (8, 8), (200, 30, 30)).save(tmp_path / "broken.png", icc_profile=b"not a profile")
    assert tuple(_pixels(tmp_path / "broken.png")[0, 0]) == (200, 30, 30)


def test_exif_rotation_is_applied(tmp_path):
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.new("RGB", (24, 10)).save(tmp_path / "phone.jpg", exif=exif)
    assert open_image(tmp_path / "phone.jpg").rgb.size == (10, 24)


def test_pixel_cap_is_checked_before_decoding(tmp_path):
    """A 79 KB PNG declaring 9000x9000 is refused from its header (decoding it would take 243 MB)."""
    Image.new("L", (9000, 9000)).save(tmp_path / "bomb.png")
    with pytest.raises(UserInputError, match=r"bomb.png is 9000x9000 \(81.0 MP\), over the 50 MP limit"):
        open_image(tmp_path / "bomb.png")
    assert open_image(tmp_path / "bomb.png", max_pixels=None, over_cap_hint="").rgb.size == (9000, 9000)


def test_not_an_image_names_the_file(tmp_path):
    (tmp_path / "notes.png").write_text("hello")
    with pytest.raises(UserInputError, match="cannot read image .*notes.png"):
        open_image(tmp_path / "notes.png")


def test_training_photos_and_style_images_read_the_same_way(tmp_path):
    """data.py's readers (training photos, held-out photos, style images) go through open_image."""
    from stylectl.pipelines.data import load_image, style_tensor

    ramp = np.linspace(0, 65535, 32 * 32).reshape(32, 32).astype(np.uint16)
    Image.fromarray(ramp).save(tmp_path / "grey16.png")
    Image.new("RGB", (32, 32), (200, 30, 30)).save(tmp_path / "tagged.png", icc_profile=swapped_primaries())
    photo = load_image(tmp_path / "grey16.png")
    assert abs(float(photo.mean()) - 0.5) < 0.02  # white (1.0) when clipped
    style = style_tensor(str(tmp_path / "tagged.png"), 16)
    assert float(style[1].mean()) > 0.7 and float(style[0].mean()) < 0.2
