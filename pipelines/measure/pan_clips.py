"""Clips with known motion, made from still photos: a window pans or zooms across a larger photo.

Each frame is the window resampled to the clip's size (torch `affine_grid` + `grid_sample`), so where every
frame pixel was in the previous frame is known exactly (an affine map), and so are the pixels that entered the
view (they were outside the previous window). Evaluate measures flicker on these clips without any flow
estimator, so the numbers compare models, not estimators (see flicker.py for the error itself).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from stylectl.pipelines.measure.flicker import inside, masked_error, sample


@dataclass(frozen=True)
class Motion:
    """How the window moves per frame: `shift` (x, y) as a share of the frame's side, so a clip at any size
    shows the same camera move; `zoom` > 1 narrows the window (zoom in)."""

    name: str
    shift: tuple[float, float]
    zoom: float


# A slow pan, a diagonal pan at sub-pixel steps, and a zoom: the camera moves of a hand-held phone clip
# (at 256x256: 3 pixels per frame, 2.5 and 1.5, 2% per frame).
MOTIONS = (Motion("pan right", (3 / 256, 0.0), 1.0), Motion("pan down-left", (-2.5 / 256, 1.5 / 256), 1.0),
           Motion("zoom in", (0.0, 0.0), 1.02))
FRAMES = 8
SOURCE_SCALE = 2  # the photo is read at twice the clip's size; the first window shows half of it at 1:1


@dataclass(frozen=True)
class PanClip:
    """Frames [T,3,size,size] in 0..1 and each frame's window as a 3x3 affine map from frame coordinates to
    the photo's (both normalized to -1..1)."""

    name: str
    frames: Tensor
    windows: Tensor


def make_clip(name: str, photo: Tensor, size: int, motion: Motion, frames: int = FRAMES) -> PanClip:
    """A clip of `frames` frames at `size` from `photo` [3,L,L] (L = SOURCE_SCALE * size, a square).

    The window starts centred, `size` photo pixels wide; each frame moves its centre by `motion.shift` times
    its width and divides its width by `motion.zoom`."""
    side_pixels = photo.shape[-1]
    width, center = size / side_pixels, torch.zeros(2, dtype=torch.float64)  # half-width, normalized units
    windows = []
    for _ in range(frames):
        windows.append(torch.tensor([[width, 0, center[0]], [0, width, center[1]], [0, 0, 1]], dtype=torch.float64))
        center = center + torch.tensor(motion.shift, dtype=torch.float64) * 2 * width
        width = width / motion.zoom
    windows = torch.stack(windows)
    if (windows[:, :2, 2].abs() + windows[:, 0, 0][:, None]).max() > 1:
        raise ValueError(f"clip '{name}': the window leaves the photo; use fewer frames or a slower motion")
    grid = F.affine_grid(windows[:, :2].float(), [frames, 3, size, size], align_corners=False)
    return PanClip(name, sample(photo[None].expand(frames, -1, -1, -1), grid).clamp(0, 1), windows)


def warp_previous(stylized: Tensor, clip: PanClip) -> tuple[Tensor, Tensor]:
    """Frames 0..T-2 of `stylized` [T,3,h,w] (the clip through a model) moved to where frames 1..T-1 see the
    scene, and the mask of pixels visible in both: frame t's window composed with the inverse of frame t-1's
    says where each pixel was one frame earlier."""
    count, _, height, width = stylized.shape
    relative = torch.linalg.inv(clip.windows[:-1]) @ clip.windows[1:]  # frame t -> frame t-1 coordinates
    grid = F.affine_grid(relative[:, :2].float(), [count - 1, 3, height, width], align_corners=False)
    return sample(stylized[:-1], grid), inside(grid, height, width)


def clip_warping_error(stylized: Tensor, clip: PanClip) -> float:
    """Warping error of `stylized` [T,3,h,w] with the clip's exact motion (flicker.py)."""
    warped, mask = warp_previous(stylized, clip)
    return float(masked_error(stylized[1:], warped, mask).mean())


def pan_clips(photos: Tensor, size: int, names: list[str]) -> list[PanClip]:
    """One clip per photo [N,3,L,L] (L = SOURCE_SCALE * size: data.eval_batch at that size), named
    '<name>: <motion>', the motions taken in turn."""
    motions = [MOTIONS[index % len(MOTIONS)] for index in range(len(photos))]
    return [make_clip(f"{name}: {motion.name}", photo, size, motion)
            for name, photo, motion in zip(names, photos, motions)]


def flicker_rows(clips: list[PanClip], models: dict[str, Callable[[Tensor], Tensor]],
                 reference: str) -> list[dict]:
    """One row per model (and one for the input clips themselves, first): the mean warping error over the
    clips, each clip's, and the ratio to the `reference` model's (the teacher)."""
    def row(name: str, stylize: Callable[[Tensor], Tensor]) -> dict:
        per_clip = {clip.name: clip_warping_error(stylize(clip.frames), clip) for clip in clips}
        return {"artifact": name, "warping_error": sum(per_clip.values()) / len(per_clip), "per_clip": per_clip}

    rows = [row("input clip", lambda frames: frames), *(row(name, model) for name, model in models.items())]
    baseline = next(entry["warping_error"] for entry in rows if entry["artifact"] == reference)
    for entry in rows:
        entry["vs_teacher"] = entry["warping_error"] / baseline if baseline else None
    return rows
