"""Matplotlib figures for reports, headless: pyplot on the Agg backend, a figure rendered to PNG bytes,
and the Pareto front the cost-against-quality plots mark."""

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


def pareto_front(points: list[tuple[str, float, float]]) -> list[str]:
    """Names of the (name, cost, quality) points no other point beats on both cost (lower, such as
    latency or size) and quality (higher, such as PSNR)."""
    front = []
    for name, cost, quality in points:
        dominated = any(other_cost <= cost and other_quality >= quality
                        and (other_cost, other_quality) != (cost, quality)
                        for _, other_cost, other_quality in points)
        if not dominated:
            front.append(name)
    return front
