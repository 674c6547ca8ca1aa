"""stylize on photos, through the CLI: names kept, any size, EXIF, alpha, strength, colour, bad files.

The model inverts (output = 1 - input), so every expected pixel is known exactly."""

from __future__ import annotations

import json

import numpy as np
from PIL import Image

from tests.stylize.conftest import random_rgb


def _save(path, array: np.ndarray, **options) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path, **options)


def _read(path) -> np.ndarray:
    return np.asarray(Image.open(path))


def test_folder_recursion_keeps_relative_names(cli, tmp_path, invert_files):
    photos = tmp_path / "photos"
    _save(photos / "a.png", random_rgb(20, 30))
    _save(photos / "trip" / "day1" / "b.png", random_rgb(33, 17, seed=1))
    (photos / "notes.txt").write_text("not a photo")
    code, out, err = cli("stylize", photos, "--model", invert_files["fixed"], "-o", tmp_path / "out", "--json")
    assert code == 0, err
    written = sorted(p.relative_to(tmp_path / "out").as_posix() for p in (tmp_path / "out").rglob("*") if p.is_file())
    assert written == ["a.png", "trip/day1/b.png"]
    summary = json.loads(out)
    assert summary["frames"] == 2 and summary["failures"] == [] and summary["model"]["input_size"] == [32, 32]


def test_any_size_is_tiled_or_padded_exactly(cli, tmp_path, invert_files):
    """Odd sizes larger than the 32x32 file (tiles), smaller (padded), and a dynamic-size file."""
    for index, (height, width) in enumerate([(45, 77), (13, 7), (70, 33)]):
        _save(tmp_path / "in" / f"p{index}.png", random_rgb(height, width, seed=index))
    for kind in ("fixed", "dynamic"):
        code, _, err = cli("stylize", tmp_path / "in", "--model", invert_files[kind], "-o", tmp_path / kind)
        assert code == 0, err
        for source in (tmp_path / "in").iterdir():
            output, photo = _read(tmp_path / kind / source.name).astype(int), _read(source).astype(int)
            assert output.shape == photo.shape
            assert np.abs(output - (255 - photo)).max() <= 1, (kind, source.name)


def test_max_side_shrinks(cli, tmp_path, invert_files):
    _save(tmp_path / "big.png", random_rgb(40, 100))
    code, _, err = cli("stylize", tmp_path / "big.png", "--model", invert_files["fixed"], "-o", tmp_path / "out",
                       "--max-side", "50")
    assert code == 0, err
    assert _read(tmp_path / "out" / "big.png").shape == (20, 50, 3)


def test_exif_orientation_is_applied(cli, tmp_path, invert_files):
    """A landscape file tagged 'rotate 90' (orientation 6) comes out portrait, as viewers show it."""
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(random_rgb(10, 24)).save(tmp_path / "phone.jpg", exif=exif)
    code, _, err = cli("stylize", tmp_path / "phone.jpg", "--model", invert_files["fixed"], "-o", tmp_path / "out")
    assert code == 0, err
    assert Image.open(tmp_path / "out" / "phone.jpg").size == (10, 24)


def test_alpha_is_kept(cli, tmp_path, invert_files):
    rgba = np.dstack([random_rgb(21, 40), np.tile(np.arange(0, 240, 6, dtype=np.uint8), (21, 1))])
    _save(tmp_path / "logo.png", rgba)
    code, _, err = cli("stylize", tmp_path / "logo.png", "--model", invert_files["fixed"], "-o", tmp_path / "out")
    assert code == 0, err
    output = _read(tmp_path / "out" / "logo.png")
    assert output.shape == (21, 40, 4)
    np.testing.assert_array_equal(output[..., 3], rgba[..., 3])
    assert np.abs(output[..., :3].astype(int) - (255 - rgba[..., :3].astype(int))).max() <= 1


def test_strength_zero_returns_the_photo_and_half_blends(cli, tmp_path, invert_files):
    photo = random_rgb(30, 50)
    _save(tmp_path / "p.png", photo)
    for strength in ("0", "0.5"):
        code, _, err = cli("stylize", tmp_path / "p.png", "--model", invert_files["fixed"], "-o", tmp_path / strength,
                           "--strength", strength)
        assert code == 0, err
    np.testing.assert_array_equal(_read(tmp_path / "0" / "p.png"), photo)
    assert np.abs(_read(tmp_path / "0.5" / "p.png").astype(int) - 127.5).max() <= 1  # (x + 255 - x) / 2


def test_preserve_color_keeps_chroma_and_takes_luminance(cli, tmp_path, invert_files):
    photo = random_rgb(30, 50)
    _save(tmp_path / "p.png", photo)
    code, _, err = cli("stylize", tmp_path / "p.png", "--model", invert_files["fixed"], "-o", tmp_path / "out",
                       "--preserve-color")
    assert code == 0, err
    ycc = lambda array: np.asarray(Image.fromarray(array).convert("YCbCr")).astype(int)  # noqa: E731
    output, source, inverted = ycc(_read(tmp_path / "out" / "p.png")), ycc(photo), ycc(255 - photo)
    # RGB is clipped to 0..255 on the way out, so saturated colours lose a little chroma
    assert np.median(np.abs(output[..., 1:] - source[..., 1:])) <= 2
    assert np.median(np.abs(output[..., 0] - inverted[..., 0])) <= 2
    assert np.median(np.abs(output[..., 0] - source[..., 0])) > 20


def test_icc_profile_is_converted_to_untagged_srgb(cli, tmp_path, invert_files):
    from PIL import ImageCms

    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    photo = random_rgb(20, 20)
    _save(tmp_path / "tagged.png", photo, icc_profile=srgb)
    code, _, err = cli("stylize", tmp_path / "tagged.png", "--model", invert_files["fixed"], "-o", tmp_path / "out")
    assert code == 0, err
    written = Image.open(tmp_path / "out" / "tagged.png")
    assert "icc_profile" not in written.info
    assert np.abs(np.asarray(written).astype(int) - (255 - photo.astype(int))).max() <= 2  # sRGB -> sRGB


def test_bad_file_is_named_others_written_exit_2(cli, tmp_path, invert_files):
    _save(tmp_path / "in" / "good.png", random_rgb(20, 20))
    (tmp_path / "in" / "broken.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    code, _, err = cli("stylize", tmp_path / "in", tmp_path / "missing.png", "--model", invert_files["fixed"],
                       "-o", tmp_path / "out")
    assert code == 2
    lines = err.strip().splitlines()
    assert [line for line in lines if line.startswith("error:")] == lines[-3:]
    assert "missing.png" in lines[-3] and "no such file" in lines[-3]
    assert "broken.jpg" in lines[-2] and "Traceback" not in err
    assert "2 of 3 file(s) failed; 1 written" in lines[-1]
    assert sorted(p.name for p in (tmp_path / "out").rglob("*")) == ["good.png"]  # nothing half-written


def test_variant_with_a_model_file_is_refused(cli, tmp_path, invert_files):
    _save(tmp_path / "p.png", random_rgb(8, 8))
    code, _, err = cli("stylize", tmp_path / "p.png", "--model", invert_files["fixed"], "-o", tmp_path / "out",
                       "--variant", "int8")
    assert code == 2 and "--variant" in err and "Traceback" not in err


def _snapshot(folder) -> dict:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_output_that_is_the_source_folder_or_inside_it_is_refused_and_nothing_changes(cli, tmp_path, invert_files):
    photos = tmp_path / "d"
    _save(photos / "a.png", random_rgb(20, 30))
    _save(photos / "sub" / "b.png", random_rgb(12, 9, seed=1))
    before = _snapshot(photos)
    for target in (photos, photos / "sub", photos / "new"):
        code, _, err = cli("stylize", photos, "--model", invert_files["fixed"], "-o", target)
        assert code == 2 and "inside the source folder" in err and len(err.strip().splitlines()) == 1, err
    code, _, err = cli("stylize", photos / "a.png", "--model", invert_files["fixed"], "-o", photos)
    assert code == 2 and "is one of the sources" in err, err
    assert _snapshot(photos) == before


def test_existing_outputs_are_kept_unless_overwrite(cli, tmp_path, invert_files):
    _save(tmp_path / "p.png", random_rgb(20, 30))
    code, _, err = cli("stylize", tmp_path / "p.png", "--model", invert_files["fixed"], "-o", tmp_path / "out")
    assert code == 0, err
    (tmp_path / "out" / "p.png").write_bytes(b"earlier output")
    code, _, err = cli("stylize", tmp_path / "p.png", "--model", invert_files["fixed"], "-o", tmp_path / "out")
    assert code == 2 and "already exists" in err and "--overwrite" in err, err
    assert (tmp_path / "out" / "p.png").read_bytes() == b"earlier output"
    code, _, err = cli("stylize", tmp_path / "p.png", "--model", invert_files["fixed"], "-o", tmp_path / "out",
                       "--overwrite")
    assert code == 0, err
    assert np.array_equal(_read(tmp_path / "out" / "p.png"), 255 - _read(tmp_path / "p.png"))
