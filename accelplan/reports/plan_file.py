"""``plan.yaml``: the deployment config every emitter reads, and its loader."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from ..errors import SpecError, SpecIssue
from ..outputs import write_atomic
from ..plan import Plan

PLAN_FORMAT = 1


def plan_to_yaml(plan: Plan) -> str:
    """The plan as YAML: summary metrics first, then one entry per accelerator."""
    data: dict[str, Any] = {"format": PLAN_FORMAT, **plan.to_dict()}
    return "# accelplan deployment plan\n" + yaml.safe_dump(data, sort_keys=False, default_flow_style=None, width=100)


def write_plan(plan: Plan, path: Path) -> Path:
    """Write ``plan.yaml`` atomically."""
    return write_atomic(path, plan_to_yaml(plan))


def read_plan(path: Path) -> Plan:
    """Load a ``plan.yaml`` written by :func:`write_plan`."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SpecError(str(path), [SpecIssue("file not found")]) from None
    except yaml.YAMLError as exc:
        raise SpecError(str(path), [SpecIssue(f"invalid YAML: {exc}")]) from None
    if not isinstance(data, dict) or data.get("format") != PLAN_FORMAT:
        raise SpecError(str(path), [SpecIssue(f"not an accelplan plan (expected 'format: {PLAN_FORMAT}')", "format")])
    data.pop("format")
    try:
        return Plan.from_dict(data)
    except (KeyError, TypeError) as exc:
        raise SpecError(str(path), [SpecIssue(f"malformed plan: {exc}")]) from None
