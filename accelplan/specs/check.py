"""Spec files checked on their own (``accelplan validate``) and the JSON Schema of each kind (``accelplan schema``)."""

from __future__ import annotations

import json
from pathlib import Path

from ..errors import SpecError, SpecIssue
from .loader import read_yaml
from .schema import spec_schema
from .study import detect_kind, load_hardware, load_model, load_study

LOADERS = {"model": load_model, "hardware": load_hardware, "study": load_study}


def validate_file(path: Path) -> str:
    """Validate a model, hardware, study or sweep spec (kind detected from its fields), or an ONNX graph as a model
    (imported without its weights); return the kind."""
    if path.suffix == ".onnx":
        load_model(path)
        return "model (ONNX)"
    data, _ = read_yaml(path)
    from ..sweep.spec import load_sweep, looks_like_sweep

    if looks_like_sweep(data):  # a sweep names a base study too: told apart by its grid or points
        load_sweep(path)
        return "sweep"
    kind = detect_kind(data)
    if kind not in LOADERS:
        raise SpecError(str(path), [SpecIssue("cannot tell the spec kind: a model has 'operators', a hardware has "
                                              "'family', a study has 'model' and 'hardware'", line=1)])
    LOADERS[kind](path)
    return kind


def json_schema(kind: str) -> str:
    """JSON Schema of a spec kind (``model``, ``hardware``, ``study`` or ``sweep``)."""
    from pydantic import TypeAdapter

    if kind == "sweep":
        from ..sweep.spec import sweep_schema
        return json.dumps(sweep_schema(), indent=2)
    schema = TypeAdapter(spec_schema(kind)).json_schema()
    if kind == "study":  # the execution models every registered family offers, for editors' completion
        from .. import families
        names = [m.name for f in families.every() for m in f.executions]
        for option in schema["properties"]["execution"].get("anyOf", []):
            if option.get("type") == "string":
                option["enum"] = names
    return json.dumps(schema, indent=2)
