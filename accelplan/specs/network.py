"""A model spec flattened: ``repeat`` blocks expanded, names unique, inputs resolved."""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import SpecError, SpecIssue
from .loader import Lines, format_path, line_of
from .lowering import lower
from .schema import MAX_OPERATORS, ModelSpec, Operator, RepeatBlock


@dataclass(frozen=True)
class NetworkOp:
    """One operator of the flattened network."""

    name: str
    op: Operator
    inputs: tuple[str, ...]
    source: tuple  # field path in the model YAML it came from


@dataclass(frozen=True)
class Network:
    """A model as a topologically ordered list of operators."""

    name: str
    dtype: str
    batch: int
    ops: tuple[NetworkOp, ...]


def expanded_count(items) -> int:
    """Operators ``items`` hold once every ``repeat`` block is expanded (counted, not expanded)."""
    return sum(item.repeat * expanded_count(item.operators) if isinstance(item, RepeatBlock) else 1 for item in items)


def flatten(spec: ModelSpec, lines: Lines | None = None, file: str = "<model>") -> Network:
    """Expand ``repeat`` blocks and resolve inputs; raise :class:`SpecError` on duplicates or dangling inputs,
    and before expanding anything when the model would hold more than ``MAX_OPERATORS`` operators."""
    lines = lines or {}
    count = expanded_count(spec.operators)
    if count > MAX_OPERATORS:
        raise SpecError(file, [SpecIssue(f"the repeat blocks expand to {count:,} operators; a model is limited to "
                                         f"{MAX_OPERATORS:,}", "operators", line_of(("operators",), lines))])
    issues: list[SpecIssue] = []
    ops: list[NetworkOp] = []
    seen: dict[str, tuple] = {}

    def emit(items, at: tuple, prefix: str, local: dict[str, str]) -> None:
        for idx, item in enumerate(items):
            where = at + (idx,)
            if isinstance(item, RepeatBlock):
                for i in range(item.start, item.start + item.repeat):
                    emit(item.operators, where + ("operators",), f"{prefix}{item.name}{i}.", {})
                continue
            name = prefix + item.name
            if name in seen:
                issues.append(SpecIssue(f"duplicate operator name {name!r} (first at {format_path(seen[name])})",
                                        format_path(where + ("name",)), line_of(where + ("name",), lines)))
                continue
            if item.inputs is None:
                inputs = (ops[-1].name,) if ops else ()
            else:
                resolved = []
                for j, ref in enumerate(item.inputs):
                    target = local.get(ref, ref)
                    if target not in seen:
                        p = where + ("inputs", j)
                        issues.append(SpecIssue(f"input {ref!r} is not an earlier operator (operators are in topological order)",
                                                format_path(p), line_of(p, lines)))
                    resolved.append(target)
                inputs = tuple(resolved)
            try:
                lower(item)
            except ValueError as exc:
                issues.append(SpecIssue(str(exc), format_path(where), line_of(where, lines)))
            seen[name] = where
            local[item.name] = name
            ops.append(NetworkOp(name, item, inputs, where))

    emit(spec.operators, ("operators",), "", {})
    if issues:
        raise SpecError(file, issues)
    return Network(spec.name, spec.dtype, spec.batch, tuple(ops))
