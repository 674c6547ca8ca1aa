"""Package data: the built-in style images and their provenance, and the `builtin:` names.

The names live here, free of heavy imports, so config validation can reject an unknown
`builtin:` name with its YAML line before any stage (or torch) is loaded.
"""

BUILTIN_PREFIX = "builtin:"
BUILTIN_CONTENT = "builtin:photos"
BUILTIN_STYLES = ("great_wave", "starry_night", "composition_viii", "village_street")
