"""PatchGAN discriminator (Isola et al. 2017) for the optional adversarial teacher loss.

It scores overlapping patches rather than whole images, so it judges local texture (brush
strokes, paper grain): the part of a style that Gram matrices capture least well.
"""

from __future__ import annotations

from torch import nn


class PatchDiscriminator(nn.Module):
    """`layers` stride-2 4x4 convs (width doubling, instance norm, LeakyReLU) then a 1-channel patch map."""

    def __init__(self, width: int = 32, layers: int = 3) -> None:
        super().__init__()
        modules: list[nn.Module] = [nn.Conv2d(3, width, 4, 2, 1), nn.LeakyReLU(0.2)]
        channels = width
        for _ in range(layers - 1):
            modules += [nn.Conv2d(channels, channels * 2, 4, 2, 1), nn.InstanceNorm2d(channels * 2, affine=True),
                        nn.LeakyReLU(0.2)]
            channels *= 2
        modules.append(nn.Conv2d(channels, 1, 4, 1, 1))
        self.net = nn.Sequential(*modules)

    def forward(self, x):
        return self.net(x)
