"""Read YAML specs safely, validate them against the schema, and report errors with lines.

Only ``yaml.safe_load``/``yaml.compose`` (SafeLoader) are used. Each error names the file, the
line, the field path and what would be valid.
"""

from __future__ import annotations

import typing
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from ..errors import SpecError, SpecIssue
from .schema import AttentionOp, Conv2dOp, ElementwiseOp, GemmOp, RepeatBlock

M = TypeVar("M", bound=BaseModel)
Lines = dict[tuple, int]
#: libyaml's safe loader when PyYAML was built with it (same documents, several times faster), else PyYAML's
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

_TAGS: dict[str, type[BaseModel]] = {"gemm": GemmOp, "attention": AttentionOp, "conv2d": Conv2dOp,
                                      "elementwise": ElementwiseOp, "repeat": RepeatBlock}


def read_yaml(path: Path) -> tuple[Any, Lines]:
    """Return the document at ``path`` and a map from field path to 1-based line."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SpecError(str(path), [SpecIssue("file not found")]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecError(str(path), [SpecIssue(f"cannot read file: {exc}")]) from None
    try:
        node = yaml.compose(text, Loader=_LOADER)
        data = yaml.load(text, Loader=_LOADER)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        raise SpecError(str(path), [SpecIssue(f"invalid YAML: {exc.problem or exc.context}", line=line)]) from None
    except yaml.YAMLError as exc:
        raise SpecError(str(path), [SpecIssue(f"invalid YAML: {exc}")]) from None
    if node is None:
        raise SpecError(str(path), [SpecIssue("file is empty; expected a mapping of fields")])
    lines: Lines = {}
    _record_lines(node, (), lines)
    if not isinstance(data, dict):
        raise SpecError(str(path), [SpecIssue(f"expected a mapping of fields at the top level, got {type(data).__name__}", line=1)])
    return data, lines


def _record_lines(node: yaml.Node, at: tuple, lines: Lines) -> None:
    lines.setdefault(at, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            name = key.value if isinstance(key, yaml.ScalarNode) else str(key)
            lines[at + (name,)] = key.start_mark.line + 1
            _record_lines(value, at + (name,), lines)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _record_lines(item, at + (i,), lines)


def format_path(path: tuple) -> str:
    """``('operators', 3, 'm')`` -> ``operators[3].m``."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def line_of(path: tuple, lines: Lines) -> int | None:
    """Line of the longest prefix of ``path`` present in the document."""
    for end in range(len(path), -1, -1):
        if path[:end] in lines:
            return lines[path[:end]]
    return None


def _data_path(loc: tuple, data: Any) -> tuple:
    """Drop pydantic's union tags from ``loc``, keeping only steps that exist in (or under) the data."""
    out: list = []
    cur = data
    for step in loc:
        if isinstance(cur, dict):
            if step in cur:
                out.append(step)
                cur = cur[step]
            elif step in _TAGS or not isinstance(step, str) or "[" in step or step in ("int", "str", "float", "bool"):
                continue
            else:
                out.append(step)
                cur = None
        elif isinstance(cur, list) and isinstance(step, int):
            out.append(step)
            cur = cur[step] if step < len(cur) else None
        elif cur is None and isinstance(step, str) and step not in _TAGS and "[" not in step:
            out.append(step)
    return tuple(out)


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    found: list[type[BaseModel]] = []
    for arg in typing.get_args(annotation):
        found.extend(_models_in(arg))
    return found


def _allowed_fields(root: type[BaseModel], loc: tuple) -> list[str]:
    """Field names allowed where ``loc`` points (for unknown-key errors); best effort."""
    candidates: list[type[BaseModel]] = [root]
    for step in loc[:-1]:
        if isinstance(step, int):
            continue
        if step in _TAGS:
            candidates = [_TAGS[step]]
            continue
        nxt: list[type[BaseModel]] = []
        for cls in candidates:
            field = cls.model_fields.get(step)
            if field is not None:
                nxt.extend(_models_in(field.annotation))
        candidates = nxt or candidates
    names: list[str] = []
    for cls in candidates:
        names.extend(n for n in cls.model_fields if n not in names)
    return names


def _describe(err: dict, root: type[BaseModel]) -> str:
    kind = err["type"]
    if kind == "extra_forbidden":
        allowed = _allowed_fields(root, err["loc"])
        return f"unknown field; allowed fields here: {', '.join(allowed)}" if allowed else "unknown field"
    if kind == "missing":
        return "required field is missing"
    msg = err["msg"]
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, "):]
    if "input" in err and kind not in ("unknown_kind",) and not isinstance(err["input"], (dict, list)):
        msg += f" (got {err['input']!r})"
    return msg


def validate(cls: type[M], data: Any, lines: Lines, file: str) -> M:
    """Validate ``data`` against ``cls``; raise :class:`SpecError` with one issue per bad field."""
    try:
        return cls.model_validate(data)
    except ValidationError as exc:
        grouped: dict[tuple, list[str]] = {}
        for err in exc.errors():
            path = _data_path(err["loc"], data)
            msg = _describe(err, cls)
            if msg not in grouped.setdefault(path, []):
                grouped[path].append(msg)
        issues = [SpecIssue("; or ".join(msgs), format_path(path), line_of(path, lines)) for path, msgs in grouped.items()]
        issues.sort(key=lambda i: i.line or 0)
        raise SpecError(file, issues) from None


def load(cls: type[M], path: Path) -> tuple[M, Lines]:
    """Read and validate one spec file."""
    data, lines = read_yaml(path)
    return validate(cls, data, lines, str(path)), lines


