"""--stroke-scale: the model sees a shrunk photo and guided.py brings its output back to full size
along the photo's edges."""

from __future__ import annotations

import numpy as np
from PIL import Image

from stylectl.pipelines.stylize import guided


def _blocks(height: int, width: int, block: int = 16, seed: int = 0) -> np.ndarray:
    """Grey blocks with hard edges: what a bilinear enlargement blurs and a guided one should not."""
    rng = np.random.default_rng(seed)
    grid = rng.integers(0, 256, (height // block + 1, width // block + 1), dtype=np.uint8)
    grey = np.kron(grid, np.ones((block, block), np.uint8))[:height, :width]
    return np.repeat(grey[..., None], 3, axis=2)


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    return float(10 * np.log10(255 ** 2 / np.mean((a.astype(float) - b.astype(float)) ** 2)))


def test_guided_upsampling_restores_the_photos_edges():
    """A model that inverts grey is linear in the guide, so the guided enlargement of its small
    output is close to the full-size inverse; a plain bilinear enlargement blurs every edge."""
    photo = _blocks(120, 200)
    small = guided.shrink(photo, 4)
    assert small.shape == (30, 50, 3)
    truth = 255 - photo
    upsampled = guided.guided_upsample(photo, small, 255 - small)
    bilinear = np.asarray(Image.fromarray(255 - small).resize((200, 120), Image.Resampling.BILINEAR))
    assert _psnr(upsampled, truth) > 30 and _psnr(upsampled, truth) > _psnr(bilinear, truth) + 8


def test_bands_give_the_whole_image_result(monkeypatch):
    photo = _blocks(70, 90, seed=1)
    small = guided.shrink(photo, 3)
    stylized = np.random.default_rng(2).integers(0, 256, small.shape, dtype=np.uint8)
    whole = guided.guided_upsample(photo, small, stylized)
    monkeypatch.setattr(guided, "BAND_ROWS", 16)
    np.testing.assert_array_equal(guided.guided_upsample(photo, small, stylized), whole)


def test_stroke_scale_option_keeps_the_size_and_follows_the_photo(cli, tmp_path, invert_files):
    photo = _blocks(96, 160, seed=3)
    Image.fromarray(photo).save(tmp_path / "p.png")
    code, out, err = cli("stylize", tmp_path / "p.png", "--model", invert_files["fixed"], "-o", tmp_path / "out",
                         "--stroke-scale", "4", "--json")
    assert code == 0, err
    output = np.asarray(Image.open(tmp_path / "out" / "p.png"))
    assert output.shape == photo.shape and '"stroke_scale": 4.0' in out
    assert _psnr(output, 255 - photo) > 30
