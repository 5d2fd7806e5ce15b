"""Spec files checked on their own (``accelplan validate``) and the JSON Schema of each kind (``accelplan schema``).

Model, hardware and study specs: a sweep is checked by :mod:`accelplan.sweep.spec`, above the specs
(:func:`accelplan.catalog.validate_file` tells them apart), and the strategy names a study may take are
passed in by the caller, who knows the strategy registry. What the registries hold (the families,
their execution models and defaults) is read when the schema is built, never listed by hand.
"""

from __future__ import annotations

import json
from collections.abc import Collection
from pathlib import Path
from typing import Annotated, Any, Union

from pydantic import Field

from .. import families
from ..errors import SpecError, SpecIssue
from .kinds import data_kind
from .loader import read_yaml
from .schema import ModelSpec, StudySpec
from .study import load_hardware, load_model, load_study


def spec_schema(kind: str) -> Any:
    """The pydantic type of a spec kind; ``hardware`` is the union of every registered family's spec."""
    if kind == "hardware":
        specs = tuple(f.spec for f in families.every())
        return Annotated[Union[specs], Field(discriminator="family")]  # type: ignore[valid-type]
    return {"model": ModelSpec, "study": StudySpec}[kind]


def validate_file(path: Path, strategies: Collection[str] | None = None) -> str:
    """Validate a model, hardware or study spec (kind told by its fields, :func:`~accelplan.specs.kinds.spec_kind`),
    or an ONNX graph as a model (imported without its weights); return the kind. ``strategies``: the names a study's
    strategy may take (None: not checked)."""
    if path.suffix == ".onnx":
        load_model(path)
        return "model (ONNX)"
    data, _ = read_yaml(path)
    kind = data_kind(data)
    loaders = {"model": load_model, "hardware": load_hardware, "study": lambda p: load_study(p, strategies)}
    if kind not in loaders:
        raise SpecError(str(path), [SpecIssue(
            f"a {kind} is not a model, hardware or study spec" if kind else "cannot tell the spec kind: a model has "
            "'operators', a hardware has 'family', a study has 'model' and 'hardware'", line=1)])
    loaders[kind](path)
    return kind


def per_family(value: Any) -> str:
    """``value(family)`` of every registered family that has one, e.g. ``versal-aie: milp; mcm: dp`` (what the schema
    and the command line's help say of the families); one value when every family has the same (``auto``)."""
    values = [(f.name, value(f)) for f in families.every() if value(f)]
    if len(values) > 1 and len({v for _, v in values}) == 1:
        return f"{values[0][1]} for every family"
    return "; ".join(f"{name}: {v}" for name, v in values)


def json_schema(kind: str, strategies: Collection[str] | None = None) -> str:
    """JSON Schema of a spec kind (``model``, ``hardware`` or ``study``); a study's execution models, strategies
    (``strategies``: the registry's names, passed in) and family defaults are listed from the registries."""
    from pydantic import TypeAdapter

    schema = TypeAdapter(spec_schema(kind)).json_schema()
    if kind == "study":  # for editors' completion and hover
        props = schema["properties"]
        names = [m.name for f in families.every() for m in f.executions]
        for option in props["execution"].get("anyOf", []):
            if option.get("type") == "string":
                option["enum"] = list(dict.fromkeys(names))
        props["execution"]["description"] += " (" + per_family(lambda f: ", ".join(
            m.name + (" (default)" if m.name == f.default_execution else "") for m in f.executions)) + ")"
        if strategies is not None:
            for option in props["strategy"].get("anyOf", []):
                if option.get("type") == "string":
                    option["enum"] = list(strategies)
        props["strategy"]["description"] += " (" + per_family(lambda f: f.default_strategy) + ")"
        references = per_family(lambda f: f.reference)
        props["reference"]["description"] += f" ({references})" if references else ""
    return json.dumps(schema, indent=2)
