"""Load a build config from YAML with `--set` overrides, and explain every error in one line.

Errors name the file, the line and the YAML path, and suggest the closest valid key, so a
user can fix a config without reading the source. YAML is read with `safe_load` semantics
only (SafeLoader): a config can never construct Python objects; aliases are refused.

Once the declarations validate, the teacher the config names is checked with its own code
(models/), so this module sits above models/ while the declarations sit below it.
"""

from __future__ import annotations

import difflib
import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from stylectl.pipelines.config import RunConfig
from stylectl.pipelines.errors import UserInputError

Loc = tuple[str | int, ...]


def load_config(path: str | Path, overrides: list[str] | None = None) -> RunConfig:
    """Read, override and validate a config; raise UserInputError with file:line on any problem."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UserInputError(f"{path}: config file not found") from None
    except (OSError, UnicodeDecodeError) as error:
        raise UserInputError(f"{path}: cannot read config ({error})") from None
    try:
        _refuse_aliases(path, text)
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        raise UserInputError(f"{where}: invalid YAML ({getattr(error, 'problem', error)})") from None
    if not isinstance(data, dict):
        raise UserInputError(f"{path}: a config must be a YAML mapping of sections (name:, data:, teacher:, ...)")

    try:
        lines = _key_lines(node)
    except DuplicateKey as duplicate:
        raise UserInputError(f"{path}:{duplicate.line}: {'.'.join(map(str, duplicate.loc))}: duplicate key (also at "
                             f"line {duplicate.first}; YAML would silently keep the last one)") from None
    origins = {loc: f"{path}:{line}" for loc, line in lines.items()}
    for override in overrides or []:
        loc = _apply_override(data, override)
        origins[loc] = f"--set {override}"
    try:
        config = RunConfig.model_validate(data)
    except ValidationError as error:
        raise UserInputError(_describe(error, origins, str(path))) from None
    problem = _teacher_problem(config)
    if problem:
        loc, message = problem
        raise UserInputError(f"{_named_origin(loc, origins, str(path))}: {'.'.join(loc)}: {message}")
    return config


def _teacher_problem(config: RunConfig) -> tuple[Loc, str] | None:
    """What keeps the configured teacher from running, with the YAML path it concerns; None when it runs.

    An imported teacher is opened and run once at the crop and evaluation sizes: a wrong layout,
    channel count, fixed size or output shape is reported before any stage starts, naming the
    user's file. A pretrained teacher needs the package that ships its weights. The model code
    (torch, onnxruntime) is imported only for configs that use these teachers, so that checking
    any other config stays quick.
    """
    teacher = config.teacher
    if teacher.onnx is not None:
        from stylectl.pipelines.models.onnx_teacher import OnnxTeacher

        onnx = teacher.onnx
        try:
            model = OnnxTeacher(onnx.file, onnx.input_range, onnx.output_range, onnx.layout, onnx.inputs)
            model.check_sizes([config.data.crop_size, config.data.eval_size])
        except UserInputError as error:
            return ("teacher", "onnx"), str(error)
    pretrained = next((option for option in ("pretrained", "init") if getattr(teacher, option) is not None), None)
    if pretrained is not None:
        from stylectl.pipelines.models.arbitrary import package_file

        try:
            package_file("")
        except UserInputError as error:
            return ("teacher", pretrained), str(error)
    return None


class DuplicateKey(Exception):
    """A key given twice in one YAML mapping (a YAML loader would silently keep the last)."""

    def __init__(self, loc: Loc, first: int, line: int) -> None:
        super().__init__(loc)
        self.loc, self.first, self.line = loc, first, line


def _key_lines(node: yaml.Node | None, loc: Loc = ()) -> dict[Loc, int]:
    """Map each YAML path to the 1-based line of its key; raises DuplicateKey on a repeated key."""
    lines: dict[Loc, int] = {}
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            child = (*loc, key_node.value)
            if child in lines:
                raise DuplicateKey(child, lines[child], key_node.start_mark.line + 1)
            lines[child] = key_node.start_mark.line + 1
            lines.update(_key_lines(value_node, child))
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            lines[(*loc, index)] = item.start_mark.line + 1
            lines.update(_key_lines(item, (*loc, index)))
    return lines


def _refuse_aliases(path: Path, text: str) -> None:
    """Refuse `*alias` references before anything is built: a config needs none, and a few nested
    ones expand to billions of values (the "billion laughs"), which took a minute to reject."""
    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        if isinstance(event, yaml.AliasEvent):
            raise UserInputError(f"{path}:{event.start_mark.line + 1}: YAML alias *{event.anchor} is not allowed in a "
                                 "config; write the value out")


def _apply_override(data: dict[str, Any], override: str) -> Loc:
    """Set `a.b.c=value` in the nested dict; the value is parsed as YAML (numbers, lists, null)."""
    dotted, sep, raw = override.partition("=")
    keys = tuple(dotted.strip().split("."))
    if not sep or not all(keys):
        raise UserInputError(f"--set {override}: expected KEY.PATH=VALUE, e.g. --set teacher.steps=100")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        value = raw
    target = data
    for depth, key in enumerate(keys[:-1]):
        child = target.setdefault(key, {})
        if not isinstance(child, dict):
            raise UserInputError(f"--set {override}: '{'.'.join(keys[: depth + 1])}' is a value, not a section")
        target = child
    target[keys[-1]] = value
    return keys


def _describe(error: ValidationError, origins: dict[Loc, str], path: str) -> str:
    """One line per problem: `where: yaml.path: what (did you mean ...?)`."""
    lines = []
    for item in error.errors():
        loc = tuple(item["loc"])
        where = _closest_origin(loc, origins) or path
        dotted = ".".join(str(part) for part in loc) or "(top level)"
        if item["type"] == "extra_forbidden":
            message = "unknown key" + _suggestion(loc)
        elif item["type"] == "missing":
            message = "required key is missing"
        else:
            message = item["msg"].removeprefix("Value error, ")
            if "input" in item and not isinstance(item["input"], (dict, list)):
                message += f" (got {item['input']!r})"
        named = re.match(r"([a-z_]+(?:\.[a-z_0-9]+)+): (.*)", message) if not loc else None
        if named:  # a check across sections names the YAML path it is about: point at that line
            dotted, message = named.groups()
            where = _named_origin(tuple(dotted.split(".")), origins, path)
        lines.append(f"{where}: {dotted}: {message}")
    return "\n".join(lines)


def _named_origin(loc: Loc, origins: dict[Loc, str], path: str) -> str:
    """Where a problem found after the fields validated, about the YAML path `loc`, comes from: the last
    override inside that path, else the line of its longest defined prefix, else the file."""
    overrides = [origin for key, origin in origins.items() if key[:len(loc)] == loc and origin.startswith("--set")]
    return (overrides[-1] if overrides else None) or _closest_origin(loc, origins) or path


def _closest_origin(loc: Loc, origins: dict[Loc, str]) -> str | None:
    """The origin of the longest prefix of `loc` that the YAML or an override defined."""
    for end in range(len(loc), 0, -1):
        if loc[:end] in origins:
            return origins[loc[:end]]
    return None


def _suggestion(loc: Loc) -> str:
    """' (did you mean 'width'?)' for a misspelt key, '' when nothing is close."""
    valid = section_fields(loc[:-1])
    close = difflib.get_close_matches(str(loc[-1]), valid, n=1, cutoff=0.6)
    if close:
        return f" (did you mean '{close[0]}'?)"
    return f" (valid keys: {', '.join(valid)})" if valid else ""


def section_fields(loc: Loc) -> list[str]:
    """Field names of the config section at a YAML path (e.g. ('teacher', 'trainer'))."""
    model: type[BaseModel] = RunConfig
    for part in loc:
        field = model.model_fields.get(str(part))
        annotation = field.annotation if field else None
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return []
        model = annotation
    return list(model.model_fields)
