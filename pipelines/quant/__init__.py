"""Quantization: PT2E (torchao) simulation that every exporter lowers."""
