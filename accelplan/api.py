"""The public workflow: load a study, plan it, write its outputs. The CLI only calls these."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import SpecError, SpecIssue
from .plan import Plan
from .problem import Problem, build_problem
from .reports.markdown import write_report
from .reports.plan_file import write_plan
from .solvers import solve
from .specs.library import KINDS, builtin_names
from .specs.loader import read_yaml
from .specs.schema import SCHEMAS
from .specs.study import (Study, detect_kind, load_hardware, load_model, load_study, resolve, study_from_data,
                          with_overrides)


@dataclass(frozen=True)
class Result:
    """A solved study: the tabulated problem and the plan."""

    study: Study
    problem: Problem
    plan: Plan


def make_study(study_file: Path | None = None, *, model: str | None = None, hardware: str | None = None,
               **overrides: Any) -> Study:
    """A study from a file, or from a model and hardware name/path; ``overrides`` replace its fields."""
    if study_file is not None:
        study = load_study(study_file)
        if model or hardware:
            data = study.spec.model_dump()
            for key, kind in (("model", "models"), ("hardware", "hardware")):  # keep the file's own paths valid
                path = resolve(data[key], kind, study_file.parent)
                if path is not None and path.is_file():
                    data[key] = str(path.resolve())
            data |= {k: v for k, v in (("model", model), ("hardware", hardware)) if v}
            study = study_from_data(data, {}, str(study_file), Path.cwd())
    else:
        if not model or not hardware:
            raise SpecError("<command line>", [SpecIssue("give a study file, or both --model and --hardware")])
        study = study_from_data({"model": model, "hardware": hardware}, {}, "<command line>", Path.cwd())
    return with_overrides(study, **overrides) if any(v is not None for v in overrides.values()) else study


def plan_study(study: Study, strategy: str | None = None, time_limit_s: float | None = None) -> Result:
    """Tabulate the study and solve it with its (or the given) strategy and time limit."""
    problem = build_problem(study)
    plan = solve(problem, strategy or study.spec.strategy, time_limit_s or study.spec.time_limit_s)
    return Result(study, problem, plan)


def write_outputs(result: Result, out_dir: Path) -> list[Path]:
    """Write ``plan.yaml`` and ``report.md`` into ``out_dir`` (each atomically)."""
    return [write_plan(result.plan, out_dir / "plan.yaml"), write_report(result.plan, out_dir / "report.md", result.problem)]


def validate_file(path: Path) -> str:
    """Validate a model, hardware or study spec (kind detected from its fields); return the kind."""
    data, _ = read_yaml(path)
    kind = detect_kind(data)
    if kind == "model":
        load_model(path)
    elif kind == "hardware":
        load_hardware(path)
    elif kind == "study":
        load_study(path)
    else:
        raise SpecError(str(path), [SpecIssue("cannot tell the spec kind: a model has 'operators', a hardware has "
                                              "'family', a study has 'model' and 'hardware'", line=1)])
    return kind


def json_schema(kind: str) -> str:
    """JSON Schema of a spec kind (``model``, ``hardware`` or ``study``)."""
    return json.dumps(SCHEMAS[kind].model_json_schema(), indent=2)


def library() -> dict[str, list[str]]:
    """Built-in spec names by kind."""
    return {kind: builtin_names(kind) for kind in KINDS}
