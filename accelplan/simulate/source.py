"""From a ``plan.yaml`` to what the replay needs: the study its ``run`` block names, the problem, the plan's groups.

The problem is tabulated again from the study (:func:`accelplan.problem.build_problem`) under the
plan's execution model, objective and the run's constraints, so the replay and the analytical
figures it is compared with read the same per-layer tables (a cost model changed since the plan
was written moves both). Every error names the plan file, the line and the field.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import families
from ..errors import SpecError, SpecIssue
from ..families import build_problem
from ..plan import Plan, metrics
from ..plan import plan_groups as groups_of
from ..plan_file import COMMAND_LINE, read_plan
from ..problem import Problem
from ..specs.loader import Lines, line_of, read_yaml
from ..specs.study import Study, make_study, with_overrides

MAX_JOBS = 100_000  # operator runs (inputs x operators) one replay lays out


@dataclass(frozen=True)
class Source:
    """A plan file read back: the plan, its study rebuilt, the problem tabulated again, the groups it prices."""

    path: Path
    plan: Plan
    study: Study
    problem: Problem
    groups: tuple


def _error(path: Path, lines: Lines, field: tuple, message: str) -> SpecError:
    return SpecError(str(path), [SpecIssue(message, ".".join(str(f) for f in field), line_of(field, lines))])


def _run_block(path: Path, data: Any, lines: Lines) -> dict[str, Any]:
    run = data.get("run") if isinstance(data, dict) else None
    if not isinstance(run, dict) or not isinstance(run.get("study"), str):
        raise _error(path, lines, ("run", "study"), "the plan does not name the study it was solved from (a `run` block "
                     "with `study`, written by accelplan solve, compare or pareto since plan format 2); solve again")
    constraints = run.get("constraints", {})
    if not isinstance(constraints, dict):
        raise _error(path, lines, ("run", "constraints"), "must be a mapping of the study's constraints")
    return run


def _study_file(path: Path, lines: Lines, name: str) -> Path:
    """The study file a run names: as written (relative to where accelplan ran), else relative to a folder above
    the plan, else the built-in study of that file name."""
    from ..specs.library import builtin_path

    candidates = [Path(name)] + ([] if Path(name).is_absolute() else [p / name for p in path.resolve().parents])
    found = next((p for p in candidates if p.is_file()), None) or builtin_path("studies", Path(name).stem)
    if found is None:
        raise _error(path, lines, ("run", "study"), f"study file {name!r} not found (looked in the current folder, "
                     f"the folders above {path.parent}/ and the built-in studies); run from the folder the plan was "
                     "solved in, or solve again")
    return found


def rebuild_study(path: Path, plan: Plan, run: dict[str, Any], lines: Lines) -> Study:
    """The study of the run, with the plan's execution model and objective and the run's constraints."""
    if run["study"] == COMMAND_LINE:
        study = make_study(None, model=run.get("model") or plan.model, hardware=run.get("hardware") or plan.hardware)
    else:
        study = make_study(_study_file(path, lines, run["study"]))
    try:
        study = with_overrides(study, execution=plan.execution, objective=plan.objective, **run.get("constraints", {}))
    except SpecError as exc:
        raise _error(path, lines, ("run", "constraints"), "; ".join(f"{i.field}: {i.message}" if i.field else i.message
                                                                     for i in exc.issues)) from None
    if (study.model.name, study.hardware.name) != (plan.model, plan.hardware):
        raise _error(path, lines, ("run", "study"), f"the plan is of {plan.model} on {plan.hardware} but its study "
                     f"{run['study']!r} is of {study.model.name} on {study.hardware.name}")
    return study


def plan_groups(path: Path, problem: Problem, plan: Plan, lines: Lines) -> tuple:
    """The groups ``plan`` was priced from, in plan order, found in the rebuilt problem
    (:func:`accelplan.plan.plan_groups`); a layer or configuration it no longer has names the plan file's line."""
    index = {layer.name: i for i, layer in enumerate(problem.layers)}
    for i, a in enumerate(plan.accelerators):
        unknown = [n for n in a.layers if n not in index]
        if unknown:
            raise _error(path, lines, ("accelerators", i, "layers"), f"layer {unknown[0]!r} is not a layer of "
                         f"{problem.model} as the study tabulates it; solve again")
    try:
        return groups_of(problem, plan)
    except (KeyError, ValueError) as exc:
        raise _error(path, lines, ("accelerators",), f"a configuration of the plan is not in {problem.hardware}'s "
                     f"menu as tabulated now ({exc}); solve again") from None


def load(path: Path) -> Source:
    """Read ``path`` (a plan written by accelplan), rebuild its study and problem, and find its groups."""
    plan = read_plan(path)
    data, lines = read_yaml(path)
    run = _run_block(path, data, lines)
    if not plan.accelerators:
        raise _error(path, lines, ("accelerators",), "the plan has no accelerators (no plan was found: "
                     f"{'; '.join(plan.violations) or plan.solver.message or 'infeasible'}); nothing to simulate")
    study = rebuild_study(path, plan, run, lines)
    jobs = study.batch * len(study.model.ops)
    if jobs > MAX_JOBS:
        field = ("run", "constraints", "batch") if "batch" in run.get("constraints", {}) else ("batch",)
        raise _error(path, lines, field, f"batch {study.batch} x {len(study.model.ops)} operators of {study.model.name} "
                     f"= {jobs:,} operator runs to replay; simulate replays at most {MAX_JOBS:,} (about 15 s and "
                     f"0.5 GB): simulate the plan solved at a batch of at most {max(1, MAX_JOBS // len(study.model.ops))}")
    problem = build_problem(study, prune=False)
    groups = plan_groups(path, problem, plan, lines)
    if not problem.form.assigns_every_layer_once(problem, groups):
        raise _error(path, lines, ("accelerators",), f"every layer of {problem.model} must be in exactly one "
                     f"{families.get(problem.family).words.accelerator} of the plan")
    priced = metrics(problem, groups, check_bounds=False)
    if priced.period_s == float("inf"):
        raise _error(path, lines, ("accelerators",), "the plan cannot be priced: " + "; ".join(priced.violations))
    return Source(path, plan, study, problem, groups)
