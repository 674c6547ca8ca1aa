"""Matplotlib figures for reports, headless: pyplot on the Agg backend, and a figure rendered to PNG bytes."""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def pyplot():
    """matplotlib.pyplot on the Agg backend (no display needed); imported on first use, as it is slow."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def figure_png(figure: Figure, dpi: int) -> bytes:
    """The figure as PNG bytes at `dpi`; the figure is closed, so pyplot does not keep it alive."""
    plt = pyplot()
    buffer = io.BytesIO()
    try:
        figure.savefig(buffer, format="png", dpi=dpi)
    finally:
        plt.close(figure)
    return buffer.getvalue()
