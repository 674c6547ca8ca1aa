"""Warping error: zero for clips that move with the scene, growing with per-frame noise, blind to pixels
that entered the view; exact motion for the pan clips, DIS optical flow for real clips."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from stylectl.pipelines.measure.flicker import warping_error
from stylectl.pipelines.measure.pan_clips import Motion, clip_warping_error, flicker_rows, make_clip

SIZE = 32
PAN = Motion("pan 2 px", (2 / SIZE, 0.0), 1.0)  # whole pixels at 1:1: no resampling anywhere


def _texture(side: int, seed: int = 0) -> torch.Tensor:
    """A smooth random picture [3,side,side]: blobs a few pixels wide, so optical flow can follow it."""
    generator = torch.Generator().manual_seed(seed)
    coarse = torch.rand(1, 3, side // 4, side // 4, generator=generator)
    return F.interpolate(coarse, size=(side, side), mode="bicubic", align_corners=False)[0].clamp(0, 1)


def test_a_still_clip_and_an_exact_pan_of_a_still_stylization_have_no_error():
    photo = _texture(2 * SIZE)
    still = make_clip("still", photo, SIZE, Motion("still", (0.0, 0.0), 1.0))
    assert clip_warping_error(still.frames, still) == 0
    stylized_photo = 1 - photo ** 2  # a "stylization" of the whole scene, then panned like the photo
    pan = make_clip("pan", photo, SIZE, PAN)
    assert clip_warping_error(make_clip("pan", stylized_photo, SIZE, PAN).frames, pan) < 1e-10
    assert clip_warping_error(pan.frames[[0, 0, 0]], make_clip("pan", photo, SIZE, PAN, frames=3)) > 1e-3


@pytest.mark.parametrize("sigma", [0.02, 0.05])
def test_error_grows_with_per_frame_noise_as_twice_its_variance(sigma):
    pan = make_clip("pan", _texture(2 * SIZE), SIZE, PAN)
    generator = torch.Generator().manual_seed(1)
    noisy = pan.frames + sigma * torch.randn(pan.frames.shape, generator=generator)
    assert clip_warping_error(noisy, pan) == pytest.approx(2 * sigma ** 2, rel=0.15)


def test_pixels_that_entered_the_view_are_not_compared():
    pan = make_clip("pan", _texture(2 * SIZE), SIZE, PAN)
    stylized = pan.frames.clone()
    stylized[-1, :, :, -2:] = torch.rand(3, SIZE, 2)  # new on the right in the last frame: the camera pans right
    assert clip_warping_error(stylized, pan) < 1e-10
    stylized[-1, :, :, -3] = 1 - stylized[-1, :, :, -3]  # the last column both frames saw
    assert clip_warping_error(stylized, pan) > 1e-3


def test_flicker_rows_put_the_input_first_and_divide_by_the_teacher():
    pan = make_clip("pan", _texture(2 * SIZE), SIZE, PAN)
    rows = flicker_rows([pan], {"teacher": lambda frames: frames + 0.05 * torch.randn_like(frames),
                                "student": lambda frames: frames}, "teacher")
    assert [row["artifact"] for row in rows] == ["input clip", "teacher", "student"]
    assert rows[1]["vs_teacher"] == 1 and rows[1]["warping_error"] > 1e-3
    assert rows[2]["warping_error"] < 1e-10 and rows[2]["per_clip"] == {"pan": rows[2]["warping_error"]}


def _uint8(image: torch.Tensor) -> np.ndarray:
    return (image.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)


def test_dis_flow_follows_a_shifted_pair_and_sees_noise():
    scene = _uint8(_texture(160, seed=2))
    frames = [scene[16 + dy:112 + dy, 16 + dx:112 + dx] for dx, dy in [(0, 0), (3, 2), (6, 4)]]
    unaligned = np.mean([(b.astype(float) - a.astype(float)) ** 2 for a, b in zip(frames, frames[1:])]) / 255 ** 2
    error = warping_error(zip(frames, frames))  # the identity "stylization" of a camera moving diagonally
    assert error < 0.02 * unaligned
    generator = np.random.default_rng(0)
    noisy = [np.clip(frame + generator.normal(0, 8, frame.shape), 0, 255).astype(np.uint8) for frame in frames]
    assert warping_error(zip(frames, noisy)) > 1.5 * (8 / 255) ** 2


def test_dis_path_is_zero_for_a_still_clip_and_needs_two_frames():
    frame = _uint8(_texture(64))
    assert warping_error(zip([frame] * 3, [frame] * 3)) == 0
    with pytest.raises(ValueError, match="two frames"):
        warping_error([(frame, frame)])
    with pytest.raises(ValueError, match="differ in size"):
        warping_error([(frame, frame[:32])])


def test_a_shot_cut_is_counted_and_left_out_of_the_flicker(monkeypatch):
    """Two diagonal pans of different pictures, back to back: the pair across the cut is left out, so the
    clip's error is the mean of its shots' (three pairs each), where counting the cut would multiply it."""
    from stylectl.pipelines.measure import flicker

    shots = [[scene[16 + 2 * step:112 + 2 * step, 16 + 3 * step:112 + 3 * step] for step in range(4)]
             for scene in (_uint8(_texture(160, seed=2)), _uint8(_texture(160, seed=5)))]
    generator = np.random.default_rng(0)
    noisy = [[np.clip(frame + generator.normal(0, 8, frame.shape), 0, 255).astype(np.uint8) for frame in shot]
             for shot in shots]
    meter = flicker.WarpingErrorMeter(clips=2)
    for frame, stylized in zip(shots[0] + shots[1], noisy[0] + noisy[1]):
        meter.add(frame, stylized, frame)
    stylized, source = meter.values()
    assert meter.cuts == 1
    per_shot = [warping_error(zip(shot, stylized_shot)) for shot, stylized_shot in zip(shots, noisy)]
    assert stylized == pytest.approx(sum(per_shot) / 2, rel=1e-5)
    assert source < 0.02 * stylized  # the input's own error: the pans alone, the flow followed them
    monkeypatch.setattr(flicker, "CUT_FLOOR", float("inf"))  # what the figure was before cuts were found
    assert warping_error(zip(shots[0] + shots[1], noisy[0] + noisy[1])) > 3 * stylized
