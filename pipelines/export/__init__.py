"""Exporters: a table of formats and one module per format."""
