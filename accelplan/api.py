"""The public workflow: load a study, plan it, write its outputs. The CLI only calls these."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import families
from .errors import SpecError, SpecIssue
from .execution import Form
from .outputs import write_atomic
from .plan import Plan, best_plan
from .problem import Problem, build_problem
from .reports.html import write_html
from .reports.markdown import write_report
from .reports.plan_file import read_plan, write_plan
from .solvers import solve
from .sweeps import Comparison, ExecutionResult, Front, compare, compare_executions, pareto_fronts
from .specs.library import KINDS, builtin_names
from .specs.loader import validate
from .specs.network import flatten
from .specs.check import json_schema, validate_file  # noqa: F401 (part of the workflow API)
from .specs.schema import ModelSpec
from .specs.study import Study, load_study, resolve, study_from_data, with_overrides


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


def plan_study(study: Study, strategy: str | None = None, time_limit_s: float | None = None,
               seed: int | None = None, **options: Any) -> Result:
    """Tabulate the study and solve it with its (or the given) strategy, time limit and seed.

    ``options`` go to the strategy (Optuna: ``trials``, ``storage``, ``study_name``); one it does not
    take is a :class:`~accelplan.errors.SolveError` naming the strategies that take it, raised
    before the study is tabulated.
    """
    from .solvers import strategy as lookup

    name = strategy or study.strategy
    lookup(name).check_options(options)
    problem = build_problem(study)
    plan = solve(problem, name, time_limit_s or study.spec.time_limit_s,
                 study.spec.seed if seed is None else seed, **{k: v for k, v in options.items() if v is not None})
    return Result(study, problem, plan)


def write_outputs(result: Result, out_dir: Path) -> list[Path]:
    """Write ``plan.yaml``, ``report.md`` and ``report.html`` into ``out_dir`` (each atomically)."""
    return [write_plan(result.plan, out_dir / "plan.yaml"), write_report(result.plan, out_dir / "report.md", result.problem),
            write_html(result.plan, out_dir / "report.html", result.problem)]


def compare_study(study: Study, strategies: Sequence[str], time_limit_s: float | None = None, seed: int | None = None,
                  progress: Callable[[str], None] | None = None) -> tuple[Problem, list[Comparison]]:
    """Run each strategy on the study's problem (see :func:`accelplan.sweeps.compare`)."""
    problem = build_problem(study)
    rows = compare(problem, strategies, time_limit_s or study.spec.time_limit_s,
                   study.spec.seed if seed is None else seed, progress)
    return problem, rows


def write_comparison(problem: Problem, rows: Sequence[Comparison], out_dir: Path) -> list[Path]:
    """Write ``compare.md``, ``compare.csv`` and, for the best plan found, ``plan.yaml``, ``report.md`` and ``report.html``."""
    from .reports.compare import comparison_csv, comparison_markdown

    table = comparison_markdown(rows, problem.objective.name)
    written = [write_atomic(out_dir / "compare.md", f"# Strategies on {problem.name}\n\n{table}"),
               write_atomic(out_dir / "compare.csv", comparison_csv(rows))]
    best = best_plan(problem.objective.name, (row.plan for row in rows))
    if best is not None:
        written += [write_plan(best, out_dir / "plan.yaml"),
                    write_report(best, out_dir / "report.md", problem, [f"## Strategies compared\n\n{table}"]),
                    write_html(best, out_dir / "report.html", problem, comparison=rows)]
    return written


def compare_execution_study(study: Study, strategy: str = "auto", time_limit_s: float | None = None, seed: int | None = None,
                            progress: Callable[[str], None] | None = None) -> list[ExecutionResult]:
    """The best plan of the study's model and hardware under each execution model of its hardware family."""
    problems = {m.name: build_problem(study, execution=m.name) for m in families.get(study.hardware.family).executions}
    return compare_executions(problems, strategy, time_limit_s or study.spec.time_limit_s,
                              study.spec.seed if seed is None else seed, progress)


def write_execution_comparison(study: Study, rows: Sequence[ExecutionResult], out_dir: Path) -> list[Path]:
    """Write ``compare-execution.md``/``.csv`` and, per execution model, ``<execution>/plan.yaml``, ``report.md``, ``report.html``."""
    from .reports.compare import executions_csv, executions_markdown

    table = executions_markdown(rows)
    written = [write_atomic(out_dir / "compare-execution.md", f"# Execution models: {study.name}\n\n{table}"),
               write_atomic(out_dir / "compare-execution.csv", executions_csv(rows))]
    for row in rows:
        if row.plan is not None and row.plan.feasible:
            folder = out_dir / row.execution
            written += [write_plan(row.plan, folder / "plan.yaml"),
                        write_report(row.plan, folder / "report.md", None, [f"## Execution models compared\n\n{table}"]),
                        write_html(row.plan, folder / "report.html")]
    return written


def pareto_study(study: Study, strategy: str = "auto", points: int = 8, time_limit_s: float | None = None,
                 seed: int | None = None, progress: Callable[[str], None] | None = None) -> tuple[Problem, list[Front]]:
    """Latency-throughput fronts of the family's execution models (see :func:`accelplan.sweeps.pareto_fronts`)."""
    problem = build_problem(study)
    names = [m.name for m in families.get(study.hardware.family).executions]
    if problem.execution.form is Form.SEGMENTS:  # refused by pareto_fronts: tabulate nothing more
        names = []
    problems = {name: problem if name == problem.execution.name and problem.objective == "throughput"
                else build_problem(study, execution=name, objective="throughput") for name in names} or {
        problem.execution.name: problem}
    fronts = pareto_fronts(problems, strategy, max_points=points, time_limit_s=time_limit_s or study.spec.time_limit_s,
                           seed=study.spec.seed if seed is None else seed, progress=progress)
    return problem, fronts


def write_pareto(problem: Problem, fronts: Sequence[Front], out_dir: Path) -> list[Path]:
    """Write ``pareto.csv``, ``pareto.png``, every point's plan under ``pareto/``, ``report.md`` and ``report.html``."""
    from .reports.pareto import pareto_csv, pareto_markdown, pareto_png, plan_file_name

    written = [write_atomic(out_dir / "pareto.csv", pareto_csv(fronts)),
               write_atomic(out_dir / "pareto.png", pareto_png(fronts, f"{problem.model} on {problem.hardware}"))]
    for front in fronts:
        for i, point in enumerate(front.points):
            written.append(write_plan(point.plan, out_dir / plan_file_name(front.execution, i)))
    widest = next((f for f in reversed(fronts) if f.points), None)
    if widest is not None:
        best = max(widest.points, key=lambda q: q.throughput).plan
        written.append(write_report(best, out_dir / "report.md", problem, [pareto_markdown(fronts)]))
        written.append(write_html(best, out_dir / "report.html", problem, fronts=fronts))
    return written


def import_model(onnx_file: Path, out_file: Path, batch: int = 1, dims: dict[str, int] | None = None,
                 lump: bool = False, name: str | None = None, dtype: str = "int8") -> tuple[Path, int]:
    """Import an ONNX graph and write it as a model spec YAML; returns the path and the operator count."""
    from .specs.onnx_import import import_onnx, model_yaml

    data = import_onnx(onnx_file, batch=batch, dims=dims, lump=lump, name=name, dtype=dtype)
    flatten(validate(ModelSpec, data, {}, str(onnx_file)), {}, str(onnx_file))  # the written spec is valid
    return write_atomic(out_file, f"# imported from {onnx_file.name}\n" + model_yaml(data)), len(data["operators"])


def emit_plan(plan_file: Path, target: str, out_dir: Path) -> list[Path]:
    """Read ``plan.yaml`` and write its ``target`` deployment config (json, vitis, sv) into ``out_dir``."""
    from .emitters import emit

    return emit(read_plan(plan_file), target, out_dir)


def library() -> dict[str, list[str]]:
    """Built-in spec names by kind."""
    return {kind: builtin_names(kind) for kind in KINDS}
