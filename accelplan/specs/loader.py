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

MAX_BYTES = 16 * 2**20  # characters of one spec file
MAX_NODES = 1_000_000  # values of a document once its aliases are expanded
MAX_DEPTH = 64  # levels of nesting

_TAGS: dict[str, type[BaseModel]] = {"gemm": GemmOp, "attention": AttentionOp, "conv2d": Conv2dOp,
                                      "elementwise": ElementwiseOp, "repeat": RepeatBlock}


def read_yaml(path: Path) -> tuple[Any, Lines]:
    """Return the document at ``path`` and a map from field path to 1-based line."""
    try:
        with open(path, "rb") as fh:  # at most what MAX_BYTES characters take in UTF-8: /dev/zero is refused, not read
            text = fh.read(4 * MAX_BYTES + 1).decode("utf-8")
    except FileNotFoundError:
        raise SpecError(str(path), [SpecIssue("file not found")]) from None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise SpecError(str(path), [SpecIssue(f"cannot read file: {exc}")]) from None
    if len(text) > MAX_BYTES:
        raise SpecError(str(path), [SpecIssue(f"file is {len(text):,} characters; spec files are limited to "
                                              f"{MAX_BYTES:,}")])
    try:
        node = yaml.compose(text, Loader=_LOADER)
        if node is not None:
            _check_structure(str(path), node)
        data = yaml.load(text, Loader=_LOADER)
    except RecursionError:
        raise SpecError(str(path), [SpecIssue(f"the document nests deeper than the parser can follow; "
                                              f"specs are limited to {MAX_DEPTH} levels")]) from None
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


def _check_structure(file: str, root: yaml.Node) -> None:
    """Refuse what would make reading the document explode: an alias that refers to itself, aliases that
    expand to more than ``MAX_NODES`` nodes ("billion laughs"), nesting deeper than ``MAX_DEPTH``, and a
    key written twice in one mapping (YAML would silently keep the last)."""
    size: dict[int, int] = {}  # id(node) -> its expanded size, once known
    open_: set[int] = set()  # nodes on the current path: meeting one again is a recursive alias
    stack: list[tuple[yaml.Node, int, bool]] = [(root, 1, False)]
    while stack:
        node, depth, done = stack.pop()
        key = id(node)
        children = _children(node)
        if done:
            open_.discard(key)
            size[key] = 1 + sum(size[id(c)] for c in children)
            if size[key] > MAX_NODES:
                raise SpecError(file, [SpecIssue(f"aliases expand the document to more than {MAX_NODES:,} values; "
                                                 "write the repeated part once (a repeat block) or with fewer aliases",
                                                 line=node.start_mark.line + 1)])
            continue
        if key in size:
            continue
        if key in open_:
            raise SpecError(file, [SpecIssue("recursive alias: a node refers to itself", line=node.start_mark.line + 1)])
        if depth > MAX_DEPTH:
            raise SpecError(file, [SpecIssue(f"the document nests deeper than {MAX_DEPTH} levels",
                                             line=node.start_mark.line + 1)])
        if isinstance(node, yaml.MappingNode):
            _check_keys(file, node)
        open_.add(key)
        stack.append((node, depth, True))
        stack.extend((c, depth + 1, False) for c in children if id(c) not in size)


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def _check_keys(file: str, node: yaml.MappingNode) -> None:
    """A key written twice in one mapping is an error naming both lines."""
    seen: dict[str, int] = {}
    for key, _ in node.value:
        if not isinstance(key, yaml.ScalarNode) or key.tag == "tag:yaml.org,2002:merge":
            continue
        line = key.start_mark.line + 1
        if key.value in seen:
            raise SpecError(file, [SpecIssue(f"key {key.value!r} appears twice in one mapping (first at line "
                                             f"{seen[key.value]}); keep one", line=line)])
        seen[key.value] = line


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


