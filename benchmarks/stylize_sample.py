"""Draw docs/stylize-sample.png and docs/stroke-scale-sample.png: what `stylectl stylize` makes with
the quickstart's shipped file.

Builds (or reuses) the config's chain (default: the quickstart), then runs the real command,
`stylectl stylize ... --variant int8 --format tflite`, on:
- a held-out photo at its full resolution (scikit-learn's china.jpg, 640x427; never trained on);
- a 2-second 480x270 clip panning across another held-out photo (matplotlib's grace_hopper.jpg),
  of which the middle frame is shown.
The sheet is stored with 256 colours.
Each row: the input, the stylized output, the same with --preserve-color.

The stroke-scale sheet: china.jpg enlarged 4x with Lanczos to 2560x1708 (no larger photo ships
with the project, so its detail is that of a 640-pixel photo), stylized as it is and with
`--stroke-scale 4`; top row the whole pictures, bottom row the same 480x360 region at 1:1.

Usage: .venv/bin/python benchmarks/stylize_sample.py [--config configs/quickstart.yaml]
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from stylectl.pipelines.data import resolve_content

from clips import write_pan
from results import built_chain

HERE = Path(__file__).parent
TARGET = HERE.parent / "docs" / "stylize-sample.png"
STROKE_TARGET = HERE.parent / "docs" / "stroke-scale-sample.png"
STROKE_SCALE, CROP = 4, (1100, 500, 1580, 860)  # the region shown at 1:1: the pagoda's roofs
CLIP_SIZE, CLIP_FRAMES, CLIP_RATE = (480, 270), 48, 24
STYLECTL = str(Path(sys.executable).parent / "stylectl")


def _make_clip(path: Path, photo: Image.Image) -> None:
    """A slow diagonal pan across the photo (enlarged to cover 1.5x the clip each way)."""
    width, height = CLIP_SIZE
    scale = max(1.5 * height / photo.height, 1.5 * width / photo.width)
    scene = np.asarray(photo.resize((round(photo.width * scale), round(photo.height * scale)),
                                    Image.Resampling.LANCZOS))
    write_pan(path, scene, CLIP_SIZE, CLIP_FRAMES, CLIP_RATE)


def _middle_frame(path: Path) -> Image.Image:
    import av

    with av.open(str(path)) as container:
        frames = [frame.to_image() for frame in container.decode(video=0)]
    return frames[len(frames) // 2]


def _stylize(config: Path, source: Path, target: Path, *extra: str) -> Path:
    subprocess.run([STYLECTL, "stylize", str(source), "--model", str(config), "--variant", "int8", "--format",
                    "tflite", "-o", str(target), *extra], check=True)
    return target / source.name


def _sheet(rows: list[list[tuple[str, Image.Image]]]) -> Image.Image:
    """Rows of labelled pictures, each scaled to the row's height."""
    height, label, pad = 360, 16, 6
    scaled = [[(text, image.resize((round(image.width * height / image.height), height), Image.Resampling.LANCZOS))
               for text, image in row] for row in rows]
    width = max(sum(image.width + pad for _, image in row) for row in scaled) + pad
    sheet = Image.new("RGB", (width, len(rows) * (height + label + pad) + pad), "white")
    draw = ImageDraw.Draw(sheet)
    for row_index, row in enumerate(scaled):
        left, top = pad, pad + row_index * (height + label + pad)
        for text, image in row:
            draw.text((left + 2, top + 2), text, fill="black")
            sheet.paste(image, (left, top + label))
            left += image.width + pad
    return sheet


def main() -> None:
    args, config, _ = built_chain(__doc__.splitlines()[0])
    heldout = {path.stem: path for path in resolve_content("builtin:photos", 0.2).heldout}
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        photo = folder / "china.png"
        Image.open(heldout["china"]).convert("RGB").save(photo)  # full resolution, as the user's file would be
        clip = folder / "pan.mp4"
        with Image.open(heldout["grace_hopper"]) as portrait:
            _make_clip(clip, portrait.convert("RGB"))
        rows = []
        for source, name in ((photo, "photo 640x427"), (clip, "clip frame 480x270")):
            plain = _stylize(args.config, source, folder / "plain")
            kept = _stylize(args.config, source, folder / "kept", "--preserve-color")
            read = _middle_frame if source.suffix == ".mp4" else Image.open
            rows.append([(name, read(source)), ("int8 TFLite", read(plain)), ("--preserve-color", read(kept))])
        _save(_sheet(rows), TARGET)
        _save(_stroke_scale_sheet(args.config, photo, folder), STROKE_TARGET)


def _stroke_scale_sheet(config: Path, photo: Path, folder: Path) -> Image.Image:
    large = folder / "china_large.png"
    with Image.open(photo) as small:
        small.resize((small.width * 4, small.height * 4), Image.Resampling.LANCZOS).save(large)
    plain = Image.open(_stylize(config, large, folder / "stroke1"))
    scaled = Image.open(_stylize(config, large, folder / "stroke4", "--stroke-scale", str(STROKE_SCALE)))
    return _sheet([[("2560x1708, as it is", plain), (f"--stroke-scale {STROKE_SCALE}", scaled)],
                   [("1:1 region", plain.crop(CROP)), ("1:1 region", scaled.crop(CROP))]])


def _save(sheet: Image.Image, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    # 256 colours: a third of the bytes in git, no visible banding at this size
    sheet.quantize(256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE).save(target, optimize=True)
    print(f"wrote {target}")


if __name__ == "__main__":
    main()
