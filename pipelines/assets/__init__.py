"""Package data: the built-in style images and their provenance."""
