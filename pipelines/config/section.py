"""The base every config section shares, and the checks of user paths its fields run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationInfo, field_validator

from stylectl.pipelines.assets import BUILTIN_PREFIX

NUMBERS = (int, float, int | None, float | None)


class Section(BaseModel):
    """Base for every section: unknown keys are errors; defaults and assigned values are checked like
    user values (a default in unresolved form, such as `formats: {"onnx": {}}`, is resolved too). NaN and
    infinity are refused for every number: every comparison with NaN is false, so a NaN gate or
    threshold would pass anything."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, validate_default=True, allow_inf_nan=False)

    @field_validator("*", mode="before")
    @classmethod
    def _no_booleans_for_numbers(cls, value: Any, info: ValidationInfo) -> Any:
        """pydantic reads `steps: true` as 1; a boolean where a number belongs is a typo."""
        if isinstance(value, bool) and cls.model_fields[info.field_name].annotation in NUMBERS:
            raise ValueError("expected a number, not a boolean")
        return value


def existing_path(value: str, what: str, builtins: tuple[str, ...] = (), file: bool = False) -> str:
    """Check a user path or `builtin:` name early, so the error carries the YAML line; with
    `file`, a folder is refused too."""
    if value.startswith(BUILTIN_PREFIX):
        if builtins and value not in builtins:
            raise ValueError(f"unknown built-in '{value}' (choose from {', '.join(builtins)})")
        return value
    path = Path(value).expanduser()
    if not path.exists():
        raise ValueError(f"{what} '{value}' does not exist")
    if file and not path.is_file():
        raise ValueError(f"{what} '{value}' is a folder, not a file")
    return value


def readable_image(path: Path) -> None:
    """Open the image header now, so a text file or a truncated download is reported at its YAML line."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            image.verify()
    except (OSError, UnidentifiedImageError, SyntaxError) as error:
        raise ValueError(f"'{path}' is not a readable image ({type(error).__name__}: {error})") from None
