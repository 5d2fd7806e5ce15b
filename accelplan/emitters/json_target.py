"""``json`` target: the plan as JSON with a versioned JSON Schema beside it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter

from ..outputs import write_atomic
from ..plan import Plan

#: bumped on any change of the JSON layout (major: incompatible, minor: added fields)
SCHEMA_VERSION = "1.1.0"  # 1.1: accelerators' start_ms, pace_ms and placements; the plan's budgets and bottleneck
SCHEMA_ID = f"https://accelplan.dev/schemas/plan-{SCHEMA_VERSION}.json"


def plan_schema() -> dict[str, Any]:
    """JSON Schema of ``plan.json`` (derived from the :class:`Plan` dataclasses)."""
    schema = TypeAdapter(Plan).json_schema()
    schema["properties"] = {"schema_version": {"const": SCHEMA_VERSION, "type": "string"}, **schema["properties"]}
    schema["required"] = ["schema_version", *schema.get("required", [])]
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": SCHEMA_ID, "title": "accelplan plan", **schema}


def plan_json(plan: Plan) -> dict[str, Any]:
    """The plan as plain JSON data, tagged with its schema version."""
    return {"schema_version": SCHEMA_VERSION, **plan.to_dict()}


def emit_json(plan: Plan, out_dir: Path) -> list[Path]:
    """Write ``plan.json`` and ``plan.schema.json``."""
    return [write_atomic(out_dir / "plan.json", json.dumps(plan_json(plan), indent=2) + "\n"),
            write_atomic(out_dir / "plan.schema.json", json.dumps(plan_schema(), indent=2) + "\n")]
