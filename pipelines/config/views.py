"""A stage's view of the config: only what its cache key hashes.

A stage's key hashes the config sections (or single values) named in its registry entry.
If the stage could read anything else, a changed value there would reuse a stale cached
folder. The view makes such a read fail at once, so the stage tests (which run every stage
on the tiny build) catch it the day it is written.
"""

from __future__ import annotations

from typing import Any

from stylectl.pipelines.config import RunConfig

# The build's name picks the build folder; it changes no stage's output.
ALWAYS_READABLE = ("name",)


class UndeclaredConfigRead(AttributeError):
    """A stage read a config value its cache key does not hash (a bug in the stage or its registry entry)."""


class _Narrowed:
    """Attribute access to `source` limited to `allowed` names; `where` names it in errors."""

    def __init__(self, source: Any, allowed: set[str], where: str, stage: str) -> None:
        self._source, self._allowed, self._where, self._stage = source, allowed, where, stage

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        if name not in self._allowed:
            raise UndeclaredConfigRead(
                f"stage '{self._stage}' read {self._where}{name}, which its cache key does not hash: add it to the "
                "stage's sections in pipelines/stages/__init__.py, or read it from an upstream artifact")
        return getattr(self._source, name)


class ConfigView(_Narrowed):
    """The RunConfig as `stage` may read it: whole `sections`, and single values by dotted path
    (`quantize.ship` gives a `quantize` that answers only `.ship`)."""

    def __init__(self, config: RunConfig, sections: tuple[str, ...], stage: str) -> None:
        self._parts = {}
        for path in sections:
            head, _, rest = path.partition(".")
            if rest:
                self._parts.setdefault(head, set()).add(rest)
        whole = {path for path in sections if "." not in path}
        super().__init__(config, whole | set(self._parts) | set(ALWAYS_READABLE), "config ", stage)
        self._whole = whole | set(ALWAYS_READABLE)

    def __getattr__(self, name: str) -> Any:
        value = super().__getattr__(name)
        if name in self._whole:
            return value
        return _Narrowed(value, self._parts[name], f"config {name}.", self._stage)
