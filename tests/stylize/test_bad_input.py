"""stylize's bad-input table: every case exits 2 with one clear line naming what is wrong (plus the
count line when a batch ran), no traceback, and no input or earlier output changed.

Each case builds its files under `in/` (and `out/`, which always holds an earlier output) and
returns the arguments after `stylize`; `{model}` is the inverting 32x32 ONNX file."""

from __future__ import annotations

import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.stylize.conftest import random_rgb


def _png(path: Path, height: int = 12, width: int = 12, seed: int = 0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(random_rgb(height, width, seed)).save(path)
    return path


def _bytes(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def _png_bytes() -> bytes:
    import io

    buffer = io.BytesIO()
    Image.fromarray(random_rgb(16, 16)).save(buffer, format="PNG")
    return buffer.getvalue()


def _declared_png(width: int, height: int) -> bytes:
    """A PNG header declaring a size, then one tiny compressed row: the header is all a reader sees first."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return len(body).to_bytes(4, "big") + kind + body + zlib.crc32(kind + body).to_bytes(4, "big")

    header = width.to_bytes(4, "big") + height.to_bytes(4, "big") + bytes([8, 2, 0, 0, 0])
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 7)) + chunk(b"IEND", b"")


def _video(path: Path, frames: int, audio_only: bool = False) -> Path:
    import av

    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as container:
        if audio_only:
            stream = container.add_stream("aac", rate=16000)
            samples = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
            samples.sample_rate = 16000
            for packet in stream.encode(samples):
                container.mux(packet)
            container.mux(stream.encode(None))
            return path
        stream = container.add_stream("libx264", rate=10)
        stream.width, stream.height, stream.pix_fmt = 32, 32, "yuv420p"
        for index in range(frames):
            container.mux(stream.encode(av.VideoFrame.from_ndarray(random_rgb(32, 32, index), format="rgb24")))
        container.mux(stream.encode(None))
    return path


def _blocked_output(tmp: Path) -> Path:
    """in/sub/a.png and in/b.png, with a file at out/sub where a.png's folder would go."""
    _png(tmp / "in/sub/a.png")
    _png(tmp / "in/b.png")
    _bytes(tmp / "out/sub", b"a file")
    return tmp / "in"


def _corrupt(data: bytes, at: int) -> bytes:
    return data[:at] + bytes(b ^ 0xFF for b in data[at:at + 8]) + data[at + 8:]


# (id, setup(tmp) -> args after `stylize` ({model} and {out} filled in), fragments of the first error line)
CASES = [
    # unreadable photos
    ("text named .png", lambda t: [_bytes(t / "in/a.png", b"hello"), "-m", "{model}", "-o", "{out}"],
     ["cannot read image", "a.png"]),
    ("empty .jpg", lambda t: [_bytes(t / "in/a.jpg", b""), "-m", "{model}", "-o", "{out}"], ["cannot read image", "a.jpg"]),
    ("truncated png", lambda t: [_bytes(t / "in/a.png", _png_bytes()[:60]), "-m", "{model}", "-o", "{out}"],
     ["cannot read image", "a.png"]),
    ("truncated jpeg", lambda t: [_bytes(t / "in/a.jpg", b"\xff\xd8\xff\xe0" + b"\0" * 30), "-m", "{model}", "-o", "{out}"],
     ["cannot read image", "a.jpg"]),
    ("png with a broken chunk", lambda t: [_bytes(t / "in/a.png", _corrupt(_png_bytes(), 40)), "-m", "{model}", "-o",
                                           "{out}"], ["cannot read image", "a.png"]),
    ("html named .jpg", lambda t: [_bytes(t / "in/a.jpg", b"<html><body>404</body></html>"), "-m", "{model}", "-o",
                                   "{out}"], ["cannot read image", "a.jpg"]),
    ("random bytes .webp", lambda t: [_bytes(t / "in/a.webp", bytes(range(256)) * 4), "-m", "{model}", "-o", "{out}"],
     ["cannot read image", "a.webp"]),
    ("random bytes .tif", lambda t: [_bytes(t / "in/a.tif", b"II*\0" + bytes(range(200))), "-m", "{model}", "-o", "{out}"],
     ["cannot read image", "a.tif"]),
    ("random bytes .bmp", lambda t: [_bytes(t / "in/a.bmp", b"BM" + bytes(100)), "-m", "{model}", "-o", "{out}"],
     ["cannot read image", "a.bmp"]),
    ("png declaring 9000x9000", lambda t: [_bytes(t / "in/bomb.png", _declared_png(9000, 9000)), "-m", "{model}", "-o",
                                           "{out}"], ["bomb.png is 9000x9000", "50 MP limit", "--max-pixels"]),
    ("png declaring 100000x100000", lambda t: [_bytes(t / "in/bomb.png", _declared_png(100000, 100000)), "-m", "{model}",
                                               "-o", "{out}"], ["bomb.png", "limit"]),
    ("photo over --max-pixels", lambda t: [_png(t / "in/a.png", 40, 40), "--max-pixels", "1000", "-m", "{model}", "-o",
                                           "{out}"], ["a.png is 40x40", "--max-pixels"]),
    ("a bad photo beside good ones", lambda t: [_png(t / "in/good.png"), _bytes(t / "in/bad.png", b"x"), "-m", "{model}",
                                                "-o", "{out}"], ["bad.png"]),
    # unreadable videos
    ("text named .mp4", lambda t: [_bytes(t / "in/a.mp4", b"not a video"), "-m", "{model}", "-o", "{out}"],
     ["a.mp4"]),
    ("random bytes .mov", lambda t: [_bytes(t / "in/a.mov", bytes(range(256)) * 8), "-m", "{model}", "-o", "{out}"],
     ["a.mov"]),
    ("random bytes .gif", lambda t: [_bytes(t / "in/a.gif", b"GIF89a" + bytes(50)), "-m", "{model}", "-o", "{out}"],
     ["a.gif"]),
    ("truncated mp4", lambda t: [_bytes(t / "in/a.mp4", _video(t / "tmp/v.mp4", 5).read_bytes()[:300]), "-m", "{model}",
                                 "-o", "{out}"], ["a.mp4"]),
    ("audio-only mp4", lambda t: [_video(t / "in/a.mp4", 0, audio_only=True), "-m", "{model}", "-o", "{out}"],
     ["a.mp4", "no video stream"]),
    # sources
    ("missing source", lambda t: [t / "in/absent.png", "-m", "{model}", "-o", "{out}"], ["absent.png", "no such file"]),
    ("source not a photo", lambda t: [_bytes(t / "in/notes.txt", b"hi"), "-m", "{model}", "-o", "{out}"],
     ["notes.txt", "not a photo or video"]),
    ("empty folder", lambda t: [(t / "in/empty").mkdir(parents=True) or t / "in/empty", "-m", "{model}", "-o", "{out}"],
     ["empty", "no photo or video in this folder"]),
    ("two sources, one output", lambda t: [_png(t / "in/x/p.png"), _png(t / "in/y/p.png", seed=1), "-m", "{model}",
                                           "-o", "{out}"], ["two sources would be written to the same output"]),
    # outputs
    ("-o is the source folder", lambda t: [_png(t / "in/a.png").parent, "-m", "{model}", "-o", t / "in"],
     ["inside the source folder"]),
    ("-o inside the source folder", lambda t: [_png(t / "in/a.png").parent, "-m", "{model}", "-o", t / "in/sub"],
     ["inside the source folder"]),
    ("-o holds the source file", lambda t: [_png(t / "in/a.png"), "-m", "{model}", "-o", t / "in"],
     ["is one of the sources"]),
    ("earlier output exists", lambda t: [_png(t / "in/kept.png"), "-m", "{model}", "-o", "{out}"],
     ["kept.png: already exists", "--overwrite"]),
    ("-o is a file", lambda t: [_png(t / "in/a.png"), "-m", "{model}", "-o", t / "out/kept.png"],
     ["cannot write", "a.png"]),
    ("output folder blocked by a file", lambda t: [_blocked_output(t), "-m", "{model}", "-o", "{out}"],
     ["cannot write", "sub/a.png"]),
    # models
    ("missing model file", lambda t: [_png(t / "in/a.png"), "-m", t / "absent.onnx", "-o", "{out}"],
     ["--model", "absent.onnx", "no such file"]),
    ("model is text", lambda t: [_png(t / "in/a.png"), "-m", _bytes(t / "m.onnx", b"garbage"), "-o", "{out}"],
     ["--model", "m.onnx", "cannot read it as onnx"]),
    ("tflite model is garbage", lambda t: [_png(t / "in/a.png"), "-m", _bytes(t / "m.tflite", b"garbage"), "-o", "{out}"],
     ["--model", "m.tflite", "cannot read it as tflite"]),
    ("model of an unknown kind", lambda t: [_png(t / "in/a.png"), "-m", _bytes(t / "m.bin", b"x"), "-o", "{out}"],
     ["--model", "m.bin", "not a model file"]),
    ("missing model config", lambda t: [_png(t / "in/a.png"), "-m", t / "absent.yaml", "-o", "{out}"],
     ["absent.yaml", "config file not found"]),
    ("model config is bad", lambda t: [_png(t / "in/a.png"), "-m", _bytes(t / "c.yaml", b"name: [x"), "-o", "{out}"],
     ["c.yaml", "invalid YAML"]),
    ("model folder is no stage", lambda t: [_png(t / "in/a.png"), "-m", (t / "folder").mkdir() or t / "folder", "-o",
                                            "{out}"], ["--model", "folder", "not a finished stage folder"]),
    ("--variant with a model file", lambda t: [_png(t / "in/a.png"), "-m", "{model}", "-o", "{out}", "--variant", "int8"],
     ["--variant and --format choose among a build's files"]),
    ("unknown --variant", lambda t: [_png(t / "in/a.png"), "-m", "{model}", "-o", "{out}", "--variant", "int3"],
     ["--variant int3", "choose from"]),
    ("unknown --format", lambda t: [_png(t / "in/a.png"), "-m", "{model}", "-o", "{out}", "--format", "tfl"],
     ["--format tfl", "choose from"]),
    # options
    ("strength above 1", lambda t: [_png(t / "in/a.png"), "-m", "{model}", "-o", "{out}", "--strength", "1.5"],
     ["stylectl stylize", "--strength"]),
    ("strength below 0", lambda t: [_png(t / "in/a.png"), "-m", "{model}", "-o", "{out}", "--strength", "-0.1"],
     ["--strength"]),
    ("strength not a number", lambda t: [_png(t / "in/a.png"), "-m", "{model}", "-o", "{out}", "--strength", "half"],
     ["--strength", "valid number"]),
    ("max-side too small", lambda t: [_png(t / "in/a.png"), "-m", "{model}", "-o", "{out}", "--max-side", "2"],
     ["--max-side"]),
    ("zero threads", lambda t: [_png(t / "in/a.png"), "-m", "{model}", "-o", "{out}", "--threads", "0"], ["--threads"]),
    ("zero max-pixels", lambda t: [_png(t / "in/a.png"), "-m", "{model}", "-o", "{out}", "--max-pixels", "0"],
     ["--max-pixels"]),
    ("no output folder", lambda t: [_png(t / "in/a.png"), "-m", "{model}"], ["Missing option", "--output"]),
    ("no model", lambda t: [_png(t / "in/a.png"), "-o", "{out}"], ["Missing option", "--model"]),
    ("no sources", lambda t: ["-m", "{model}", "-o", "{out}"], ["Missing argument"]),
    ("unknown option", lambda t: [_png(t / "in/a.png"), "-m", "{model}", "-o", "{out}", "--stength", "1"],
     ["No such option: --stength"]),
]


def _snapshot(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_the_table_is_large_enough():
    assert len(CASES) >= 40


@pytest.mark.parametrize("setup, fragments", [case[1:] for case in CASES], ids=[case[0] for case in CASES])
def test_bad_input_is_one_clear_line_and_changes_nothing(cli, tmp_path, invert_files, setup, fragments):
    out = tmp_path / "out"
    _png(out / "kept.png", seed=9)  # an earlier output that must survive every case
    args = [str(arg).format(model=invert_files["fixed"], out=out) for arg in setup(tmp_path)]
    (tmp_path / "in").mkdir(exist_ok=True)
    before = {"in": _snapshot(tmp_path / "in"), "out": _snapshot(out)}
    code, _, err = cli("stylize", *args)
    assert code == 2, err
    assert "Traceback" not in err
    errors = [line for line in err.strip().splitlines() if line.startswith("error:")]
    assert errors and errors[0] == err.strip().splitlines()[-len(errors)], err  # the errors end the output
    assert len(errors) == 1 or (len(errors) == 2 and " file(s) failed; " in errors[1]), err
    for fragment in fragments:
        assert fragment in errors[0], (fragment, errors[0])
    assert _snapshot(tmp_path / "in") == before["in"]
    after = _snapshot(out)
    assert {name: after.get(name) for name in before["out"]} == before["out"]
