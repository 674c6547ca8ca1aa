"""stylize on the photos people actually have: deep or tagged colour, huge files, unwritable outputs.

The model inverts (output = 1 - input), so every expected pixel is known exactly."""

from __future__ import annotations

import numpy as np
from PIL import Image

from tests.icc import swapped_primaries
from tests.stylize.conftest import random_rgb


def test_16_bit_grey_png_stylizes_with_its_tones(cli, tmp_path, invert_files):
    ramp = np.linspace(0, 65535, 40 * 50).reshape(40, 50).astype(np.uint16)
    Image.fromarray(ramp).save(tmp_path / "scan.png")
    code, _, err = cli("stylize", tmp_path / "scan.png", "--model", invert_files["fixed"], "-o", tmp_path / "out")
    assert code == 0, err
    output = np.asarray(Image.open(tmp_path / "out" / "scan.png")).astype(int)
    np.testing.assert_allclose(output[..., 0], 255 - ramp / 257, atol=1.5)


def test_wide_gamut_photo_is_stylized_from_its_real_colours(cli, tmp_path, invert_files):
    Image.new("RGB", (20, 20), (200, 30, 30)).save(tmp_path / "tagged.jpg", icc_profile=swapped_primaries(), quality=95)
    code, _, err = cli("stylize", tmp_path / "tagged.jpg", "--model", invert_files["fixed"], "-o", tmp_path / "out")
    assert code == 0, err
    red, green, blue = np.asarray(Image.open(tmp_path / "out" / "tagged.jpg")).astype(int)[10, 10]
    assert red > 200 and green < 75 and blue > 200  # the inverse of the green the profile means, not of red


def test_one_unwritable_output_among_three_the_others_are_written_exit_2(cli, tmp_path, invert_files):
    for name in ("a.png", "sub/b.png", "c.png"):
        (tmp_path / "in" / name).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(random_rgb(12, 12)).save(tmp_path / "in" / name)
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "sub").write_text("a file where the output folder should be")
    code, _, err = cli("stylize", tmp_path / "in", "--model", invert_files["fixed"], "-o", tmp_path / "out")
    assert code == 2 and "Traceback" not in err
    lines = [line for line in err.strip().splitlines() if line.startswith("error:")]
    assert len(lines) == 2 and "cannot write" in lines[0] and "sub/b.png" in lines[0], err
    assert "1 of 3 file(s) failed; 2 written" in lines[1]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.png", "c.png", "sub"]
    assert (tmp_path / "out" / "sub").read_text() == "a file where the output folder should be"


def test_pixel_cap_refuses_before_decoding_and_can_be_raised(cli, tmp_path, invert_files):
    Image.new("RGB", (300, 200)).save(tmp_path / "big.png")
    code, _, err = cli("stylize", tmp_path / "big.png", "--model", invert_files["fixed"], "-o", tmp_path / "out",
                       "--max-pixels", "50000")
    assert code == 2 and "300x200" in err and "--max-pixels" in err and "Traceback" not in err, err
    assert not (tmp_path / "out" / "big.png").exists()
    code, _, err = cli("stylize", tmp_path / "big.png", "--model", invert_files["fixed"], "-o", tmp_path / "out",
                       "--max-pixels", "60000")
    assert code == 0, err


def test_large_photo_is_streamed_in_rows_of_tiles_exactly(cli, tmp_path, invert_files, monkeypatch):
    """With the large-photo threshold lowered, a photo goes through the streamed path: the output is
    still the exact inverse, and no runtime call sees more than TILES_PER_CALL tiles."""
    from stylectl.pipelines.stylize import model as model_module
    from stylectl.pipelines.stylize import tiles

    monkeypatch.setattr("stylectl.pipelines.stylize.frames.LARGE_PIXELS", 1000)
    calls = []
    run = model_module.StyleModel.run
    monkeypatch.setattr(model_module.StyleModel, "run", lambda self, images: calls.append(len(images)) or run(self, images))
    photo = random_rgb(75, 130, seed=3)
    Image.fromarray(photo).save(tmp_path / "large.png")
    for kind in ("fixed", "dynamic"):
        monkeypatch.setattr(tiles, "LARGE_TILE", 48)
        code, _, err = cli("stylize", tmp_path / "large.png", "--model", invert_files[kind], "-o", tmp_path / kind)
        assert code == 0, err
        output = np.asarray(Image.open(tmp_path / kind / "large.png")).astype(int)
        assert np.abs(output - (255 - photo.astype(int))).max() <= 1, kind
    assert len(calls) > 2 and max(calls) <= tiles.TILES_PER_CALL
