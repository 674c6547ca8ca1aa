"""Draw docs/stylize-sample.png: what `stylectl stylize` makes with the quickstart's shipped file.

Builds (or reuses) the config's chain (default: the quickstart), then runs the real command,
`stylectl stylize ... --variant int8 --format tflite`, on:
- a held-out photo at its full resolution (scikit-learn's china.jpg, 640x427; never trained on);
- a 2-second 480x270 clip panning across another held-out photo (matplotlib's grace_hopper.jpg),
  of which the middle frame is shown.
Each row: the input, the stylized output, the same with --preserve-color.

Usage: .venv/bin/python benchmarks/stylize_sample.py [--config configs/quickstart.yaml]
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from fractions import Fraction
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from stylectl.pipelines.data import resolve_content

from results import built_chain

HERE = Path(__file__).parent
TARGET = HERE.parent / "docs" / "stylize-sample.png"
CLIP_SIZE, CLIP_FRAMES, CLIP_RATE = (480, 270), 48, 24
STYLECTL = str(Path(sys.executable).parent / "stylectl")


def _make_clip(path: Path, photo: Image.Image) -> None:
    """A slow diagonal pan across the photo (enlarged to twice the clip's height)."""
    import av

    width, height = CLIP_SIZE
    scale = 2 * height / photo.height
    scene = np.asarray(photo.resize((round(photo.width * scale), 2 * height), Image.Resampling.LANCZOS))
    with av.open(str(path), "w") as container:
        video = container.add_stream("libx264", rate=CLIP_RATE)
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        for index in range(CLIP_FRAMES):
            left = round(index * (scene.shape[1] - width) / (CLIP_FRAMES - 1))
            top = round(index * (scene.shape[0] - height) / (CLIP_FRAMES - 1))
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(scene[top:top + height, left:left + width]),
                                               format="rgb24")
            frame.pts, frame.time_base = index, Fraction(1, CLIP_RATE)
            container.mux(video.encode(frame))
        container.mux(video.encode(None))


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
        TARGET.parent.mkdir(parents=True, exist_ok=True)
        _sheet(rows).save(TARGET, optimize=True)
    print(f"wrote {TARGET}")


if __name__ == "__main__":
    main()
