"""What the library and a folder hold, and whether a spec file is valid: the light commands (``list``, ``show``,
``validate``, ``schema``), kept apart from :mod:`accelplan.api` so that they start without importing the planner
(numpy, the families' cost models, the solvers, the reports)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import SpecError, SpecIssue
from .solvers.registry import STRATEGY_CHOICES
from .specs.kinds import data_kind, spec_kind
from .specs.library import KINDS, builtin_names

if TYPE_CHECKING:
    from .plan import Plan
    from .sweep.spec import Sweep


@dataclass(frozen=True)
class Checked:
    """A file found valid: its kind (model, hardware, study, sweep, codesign or plan) and, for a plan file, the plan
    read from it."""

    kind: str
    plan: Plan | None = None


def check_file(path: Path) -> Checked:
    """Validate a plan file (:func:`accelplan.plan_file.read_plan`), a model, hardware, study, sweep or co-design
    spec (kind told by its fields, :func:`~accelplan.specs.kinds.spec_kind`), or an ONNX graph as a model."""
    from .specs import check  # the schemas (pydantic): imported by the commands that read a spec, not by list
    from .specs.loader import read_yaml

    kind = data_kind(read_yaml(path)[0]) if path.suffix != ".onnx" else None
    if kind == "plan":
        from .plan_file import read_plan
        return Checked(kind, read_plan(path))
    if kind == "sweep":
        load_sweep(path)
    elif kind == "codesign":
        from .codesign.spec import load_codesign
        load_codesign(path)
    else:
        kind = check.validate_file(path, STRATEGY_CHOICES)
    return Checked(kind)


def validate_file(path: Path) -> str:
    """:func:`check_file`'s kind."""
    return check_file(path).kind


def json_schema(kind: str) -> str:
    """JSON Schema of a spec kind (``model``, ``hardware``, ``study``, ``sweep`` or ``codesign``) or of ``plan``
    (plan.yaml)."""
    from .specs import check

    if kind == "plan":
        import json

        from .plan_file import plan_file_schema
        return json.dumps(plan_file_schema(), indent=2)
    if kind in ("sweep", "codesign"):
        import json

        from .codesign.spec import codesign_schema
        from .sweep.spec import sweep_schema
        return json.dumps((sweep_schema if kind == "sweep" else codesign_schema)(), indent=2)
    return check.json_schema(kind, STRATEGY_CHOICES)


def load_sweep(sweep_file: Path) -> "Sweep":
    """Read and expand a sweep spec (:mod:`accelplan.sweep.spec`): every point's study loaded and checked."""
    from .sweep.spec import load_sweep as load

    return load(sweep_file)


def library() -> dict[str, list[str]]:
    """Built-in spec names by kind."""
    return {kind: builtin_names(kind) for kind in KINDS}


@dataclass(frozen=True)
class UserSpec:
    """A spec or plan file of the user's: its path and kind (model, hardware, study or plan)."""

    path: Path
    kind: str


def user_specs(folder: Path, depth: int = 2, most: int = 200) -> list[UserSpec]:
    """YAML files under ``folder`` (to ``depth`` subfolders, hidden ones skipped, and the built-in library unless
    ``folder`` is inside it) that are a model, hardware, study, sweep, co-design or plan, judged by the top-level keys in their
    first 64 KiB; at most ``most``."""
    import re

    from .specs.library import library_dirs

    asked = Path(folder).resolve()
    builtin = [d.resolve() for d in library_dirs() if not asked.is_relative_to(d.resolve())]
    found = []
    for path in _yaml_files(Path(folder), depth):
        if len(found) >= most or any(path.resolve().is_relative_to(d) for d in builtin):
            continue
        try:
            with path.open("rb") as fh:
                head = fh.read(1 << 16).decode("utf-8", errors="replace")
        except OSError:
            continue
        kind = spec_kind(re.findall(r"^([A-Za-z_][\w-]*)\s*:", head, flags=re.MULTILINE))
        if kind:
            found.append(UserSpec(path, kind))
    return found


def _yaml_files(folder: Path, depth: int, most_entries: int = 20000) -> list[Path]:
    """``*.yaml``/``*.yml`` files under ``folder`` to ``depth`` subfolders (hidden ones and symbolic links to folders
    skipped), in name order; the walk stops after ``most_entries`` entries so that a huge folder stays quick."""
    import os

    files, seen, todo = [], 0, [(folder, 0)]
    while todo and seen < most_entries:
        here, level = todo.pop(0)
        try:
            entries = sorted(os.scandir(here), key=lambda e: e.name)
        except OSError:
            continue
        for entry in entries[:most_entries - seen]:
            seen += 1
            if entry.name.startswith("."):
                continue
            if entry.is_dir(follow_symlinks=False):
                if level < depth:
                    todo.append((Path(entry.path), level + 1))
            elif entry.name.endswith((".yaml", ".yml")) and entry.is_file():
                files.append(Path(entry.path))
    return sorted(files)


def builtin_text(name: str, kind: str | None = None) -> str:
    """The YAML text of the built-in spec ``name`` (of ``kind``: model, hardware or study, else any)."""
    from .specs.library import builtin_path

    kinds = {"model": "models", "hardware": "hardware", "study": "studies"}
    paths = [(k, p) for k, folder in kinds.items() if kind in (None, k) and (p := builtin_path(folder, name))]
    if not paths:
        names = sorted({n for folder in kinds.values() for n in builtin_names(folder)})
        raise SpecError("<command line>", [SpecIssue(f"no built-in {kind or 'spec'} named {name!r}; built-in: "
                                                     f"{', '.join(names)}", "name")])
    if len(paths) > 1:
        raise SpecError("<command line>", [SpecIssue(f"{name!r} is a built-in {' and a '.join(k for k, _ in paths)}; "
                                                     "say which with --kind", "name")])
    kind_found, path = paths[0]
    return f"# built-in {kind_found} {name} ({path.name})\n" + path.read_text(encoding="utf-8")
