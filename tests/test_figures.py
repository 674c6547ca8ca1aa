"""The one figure-to-PNG helper every plot goes through (pipelines/figures.py)."""

from __future__ import annotations

from stylectl.pipelines.figures import figure_png, pyplot


def test_a_figure_becomes_png_bytes_and_is_closed():
    plt = pyplot()
    figure, axis = plt.subplots(figsize=(2, 1))
    axis.plot([0, 1], [1, 0])
    png = figure_png(figure, dpi=50)
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    assert figure.number not in plt.get_fignums()
    assert plt.get_backend().lower() == "agg"
