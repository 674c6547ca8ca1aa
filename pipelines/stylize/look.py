"""What the user asks of the stylized picture beyond the model: how large its strokes, how strong,
and whose colours.

The stroke scale acts before the model (frames.py shrinks the frame, guided.py brings it back up);
the rest acts on the model's output here.

Both work on 8-bit RGB frames with PIL: `--preserve-color` keeps the photo's chroma (Cb, Cr) under
the stylized luminance (Y) -- the luminance transfer of Gatys et al. 2016, "Preserving color in
neural artistic style transfer" -- and `--strength` blends the result with the photo.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image


@dataclass(frozen=True)
class Look:
    strength: float = 1.0  # 0: the photo unchanged, 1: the model's output
    preserve_color: bool = False
    stroke_scale: float = 1.0  # strokes this many times larger than the model paints them

    def apply(self, photo: np.ndarray, stylized: np.ndarray) -> np.ndarray:
        """The frame to write, from the input and the model's output (both HxWx3 uint8 RGB)."""
        if self.strength == 1.0 and not self.preserve_color:
            return stylized  # no copies of a large photo for nothing
        result = Image.fromarray(stylized)
        if self.preserve_color:
            _, cb, cr = Image.fromarray(photo).convert("YCbCr").split()
            result = Image.merge("YCbCr", (result.convert("YCbCr").getchannel("Y"), cb, cr)).convert("RGB")
        if self.strength < 1.0:
            result = Image.blend(Image.fromarray(photo), result, self.strength)
        return np.asarray(result)
