"""stylize on videos: a 10-frame clip made here with PyAV comes back as H.264 with the same frame
count, frame rate and audio, and its frames are the model's output."""

from __future__ import annotations

import json
from fractions import Fraction

import numpy as np
import pytest

from tests.stylize.conftest import random_rgb

FRAMES, RATE, WIDTH, HEIGHT = 10, 12, 64, 48


def make_clip(path, audio: bool) -> None:
    """A flat-grey-per-frame clip (H.264 barely blurs flat colour), with a sine in AAC when `audio`."""
    import av

    with av.open(str(path), "w") as container:
        video = container.add_stream("libx264", rate=RATE)
        video.width, video.height, video.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        sound = container.add_stream("aac", rate=44100) if audio else None
        for index in range(FRAMES):
            frame = av.VideoFrame.from_ndarray(np.full((HEIGHT, WIDTH, 3), 40 + 15 * index, np.uint8), format="rgb24")
            frame.pts, frame.time_base = index, Fraction(1, RATE)
            container.mux(video.encode(frame))
        container.mux(video.encode(None))
        if sound:
            seconds = np.arange(44100 * FRAMES // RATE) / 44100
            samples = (0.3 * np.sin(2 * np.pi * 440 * seconds)).astype(np.float32)[None]
            chunk = 1024
            for start in range(0, samples.shape[1], chunk):
                frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(samples[:, start:start + chunk]),
                                                   format="fltp", layout="mono")
                frame.sample_rate, frame.pts = 44100, start
                container.mux(sound.encode(frame))
            container.mux(sound.encode(None))


def probe(path) -> dict:
    import av

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        frames = [frame.to_ndarray(format="rgb24") for frame in container.decode(stream)]
        return {"frames": frames, "rate": stream.average_rate, "codec": stream.codec_context.name,
                "pix_fmt": stream.codec_context.pix_fmt,
                "audio": [s.codec_context.name for s in container.streams.audio]}


@pytest.mark.parametrize("audio", [True, False], ids=["with audio", "silent"])
def test_clip_keeps_frames_rate_and_audio(cli, tmp_path, invert_files, audio):
    make_clip(tmp_path / "clip.mp4", audio)
    code, out, err = cli("stylize", tmp_path / "clip.mp4", "--model", invert_files["fixed"], "-o", tmp_path / "out",
                         "--json")
    assert code == 0, err
    written, source = probe(tmp_path / "out" / "clip.mp4"), probe(tmp_path / "clip.mp4")
    assert len(written["frames"]) == len(source["frames"]) == FRAMES
    assert written["rate"] == RATE and written["codec"] == "h264" and written["pix_fmt"] == "yuv420p"
    assert written["audio"] == (["aac"] if audio else [])
    for before, after in zip(source["frames"], written["frames"]):
        assert abs(after.astype(int).mean() - (255 - before.astype(int).mean())) < 3
    assert json.loads(out)["outputs"][0]["frames"] == FRAMES
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["clip.mp4"]  # the temp file was renamed


def test_gif_becomes_mp4_and_max_side_keeps_sizes_even(cli, tmp_path, invert_files):
    from PIL import Image

    frames = [Image.fromarray(random_rgb(31, 45, seed=index)) for index in range(4)]
    frames[0].save(tmp_path / "loop.gif", save_all=True, append_images=frames[1:], duration=100)
    code, _, err = cli("stylize", tmp_path / "loop.gif", "--model", invert_files["fixed"], "-o", tmp_path / "out",
                       "--max-side", "23")
    assert code == 0, err
    written = probe(tmp_path / "out" / "loop.mp4")
    assert len(written["frames"]) == 4 and written["rate"] == 10
    assert written["frames"][0].shape == (16, 22, 3)  # 31x45 shrunk to 23 wide, both sides even


def test_undecodable_video_is_named_exit_2(cli, tmp_path, invert_files):
    (tmp_path / "bad.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42 truncated")
    code, _, err = cli("stylize", tmp_path / "bad.mp4", "--model", invert_files["fixed"], "-o", tmp_path / "out")
    assert code == 2 and "Traceback" not in err
    assert any(line.startswith("error: cannot read video") and "bad.mp4" in line for line in err.splitlines())
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_measure_reports_the_flicker_of_the_stylized_and_the_input_clip(cli, tmp_path, invert_files):
    """Each frame of the clip is 15 grey levels brighter than the last, so the input clip's warping error
    is (15/255)^2; the inverting model moves every pixel by the same amounts, so its clip's error equals it."""
    make_clip(tmp_path / "clip.mp4", audio=False)
    code, out, err = cli("stylize", tmp_path / "clip.mp4", "--model", invert_files["fixed"], "-o", tmp_path / "out",
                         "--json", "--measure")
    assert code == 0, err
    flicker = json.loads(out)["outputs"][0]["warping_error"]
    assert flicker["input"] == pytest.approx((15 / 255) ** 2, rel=0.2)
    assert flicker["stylized"] == pytest.approx(flicker["input"], rel=0.02)
