"""stylize on the clips phones and editors make that a tidy test clip is not: audio with a video suffix,
a video track without frames (one line naming the file, the other files still written), variable frame
rate (each frame at its source time) and portrait video stored sideways with a rotation (written upright).
Every clip is made here with PyAV."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

from tests.stylize.test_video import make_clip

TIME_BASE = Fraction(1, 30)


def _silence(container, codec: str, sample_format: str, seconds: float = 1.0) -> None:
    """Mux `seconds` of mono silence at 48 kHz in `codec` (an aac or opus stream)."""
    import av

    stream = container.add_stream(codec, rate=48000)
    for start in range(0, int(48000 * seconds), 960):
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 960), np.float32 if sample_format == "fltp" else np.int16),
                                           format=sample_format, layout="mono")
        frame.sample_rate, frame.pts = 48000, start
        container.mux(stream.encode(frame))
    container.mux(stream.encode(None))


def _video(path, pictures: list[np.ndarray], stamps: list[int], rotation: int = 0) -> None:
    """An H.264 clip of `pictures` (HxWx3 uint8) at `stamps` (in 1/30 s), its display matrix rotated
    `rotation` degrees counter-clockwise (what phones write for portrait video: -90)."""
    import av

    height, width = pictures[0].shape[:2]
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=30)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.codec_context.time_base = TIME_BASE
        if rotation:
            stream.set_display_rotation(rotation)
        for picture, stamp in zip(pictures, stamps):
            frame = av.VideoFrame.from_ndarray(picture, format="rgb24")
            frame.pts, frame.time_base = stamp, TIME_BASE
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))


def _decoded(path) -> list:
    import av

    with av.open(str(path)) as container:
        return [(float(frame.time), frame.rotation, frame.to_ndarray(format="rgb24"))
                for frame in container.decode(container.streams.video[0])]


def _run(cli, invert_files, tmp_path, *names):
    return cli("stylize", *(tmp_path / name for name in names), "--model", invert_files["fixed"],
               "-o", tmp_path / "out", "--json")


def _error_line(err: str, name: str) -> str:
    return next(line for line in err.splitlines() if name in line and "cannot read video" in line)


def test_audio_only_file_with_a_video_suffix_is_one_line_and_the_others_are_written(cli, tmp_path, invert_files):
    import av

    with av.open(str(tmp_path / "voice.mp4"), "w") as container:
        _silence(container, "aac", "fltp")
    make_clip(tmp_path / "clip.mp4", audio=False)
    code, _, err = _run(cli, invert_files, tmp_path, "voice.mp4", "clip.mp4")
    assert code == 2 and "Traceback" not in err and "tuple index" not in err
    assert "no video stream" in _error_line(err, "voice.mp4")
    assert sorted(path.name for path in (tmp_path / "out").iterdir()) == ["clip.mp4"]


def test_video_stream_without_frames_is_one_line_naming_the_file(cli, tmp_path, invert_files):
    """A webm keeps a video track that never got a frame (mp4 drops such a track: audio only, above)."""
    import av

    with av.open(str(tmp_path / "empty.webm"), "w") as container:
        video = container.add_stream("libvpx-vp9", rate=10)
        video.width, video.height, video.pix_fmt = 64, 32, "yuv420p"
        _silence(container, "libopus", "s16")
        container.mux(video.encode(None))
    code, _, err = _run(cli, invert_files, tmp_path, "empty.webm")
    assert code == 2 and "Traceback" not in err
    assert "no frames" in _error_line(err, "empty.webm")
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())  # no temp file either


def test_variable_frame_rate_keeps_each_frame_at_its_source_time(cli, tmp_path, invert_files):
    stamps = [0, 1, 2, 5, 6, 10, 11, 12, 20]
    pictures = [np.full((32, 64, 3), 20 + 20 * index, np.uint8) for index in range(len(stamps))]
    _video(tmp_path / "vfr.mp4", pictures, stamps)
    code, _, err = _run(cli, invert_files, tmp_path, "vfr.mp4")
    assert code == 0, err
    written = _decoded(tmp_path / "out" / "vfr.mp4")
    assert [time for time, _, _ in written] == pytest.approx([float(stamp * TIME_BASE) for stamp in stamps], abs=1e-3)
    for picture, (_, _, frame) in zip(pictures, written):
        assert abs(frame.astype(int).mean() - (255 - int(picture[0, 0, 0]))) < 3


def test_portrait_clip_stored_sideways_is_written_upright(cli, tmp_path, invert_files):
    """Stored 64 wide, 32 high with a white top-left square, shown turned a quarter clockwise (display
    matrix -90, as a phone writes it): upright, the square is top-right of a 32-wide, 64-high picture."""
    picture = np.full((32, 64, 3), 40, np.uint8)
    picture[:16, :16] = 255
    _video(tmp_path / "portrait.mov", [picture] * 3, [0, 1, 2], rotation=-90)
    assert _decoded(tmp_path / "portrait.mov")[0][1] == -90  # PyAV wrote and reads back the rotation
    code, _, err = _run(cli, invert_files, tmp_path, "portrait.mov")
    assert code == 0, err
    for _, rotation, frame in _decoded(tmp_path / "out" / "portrait.mov"):
        assert rotation == 0 and frame.shape == (64, 32, 3)
        assert frame[:16, 16:].mean() < 10 and frame[16:].mean() > 200 and frame[:16, :16].mean() > 200
