"""``report.md``: the plan explained for a person."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from ..outputs import write_atomic
from ..plan import Plan
from ..problem import Problem
from .tables import accelerator_table, model_note, operator_list, plan_facts, quantity, title, words
from .serving import serving_markdown


def _num(value: float | None, spec: str) -> str:
    return "—" if value is None else format(value, spec)


def _budgets(plan: Plan) -> list[str]:
    if not plan.budgets:
        return []
    out = ["## Shared budgets", "", "| resource | used | available |", "|---|---|---|"]
    out += [f"| {b.name} | {quantity(b.used, b.unit)} | {quantity(b.available, b.unit)} |" for b in plan.budgets]
    return out + [""]


def _accelerators(plan: Plan) -> list[str]:
    if not plan.accelerators:
        return []
    table, name = accelerator_table(plan), words(plan).accelerator.capitalize()
    out = [f"## {table.title}", "", "| " + " | ".join(table.header) + " |", "|" + "---|" * len(table.header)]
    out += ["| " + " | ".join(str(v) for v in row) + " |" for row in table.rows]
    out.append("")
    for a in plan.accelerators:
        where = f", {a.when()}" if plan.segments > 1 else ""
        out += [f"### {name} {a.index} ({a.config}{where})", "", ", ".join(f"`{op}`" for op in operator_list(a)), ""]
    return out


def report_markdown(plan: Plan, problem: Problem | None = None, sections: Sequence[str] = ()) -> str:
    """Markdown report: summary, solver facts, budgets, accelerators and their operators, ``sections``, the model.

    Everything comes from the plan and its family's words and tables (``problem`` is not read).
    """
    s = plan.solver
    out = [f"# Deployment plan: {title(plan)}", ""]
    facts = plan_facts(plan, [(words(plan).accelerators, len(plan.accelerators)), ("segments", plan.segments)])
    out += ["| | |", "|---|---|", *(f"| {label} | {value} |" for label, value in facts), ""]
    out += ["## Solver", "", "| strategy | status | objective | best bound | gap | wall time |", "|---|---|---|---|---|---|",
            f"| {s.strategy} | {s.status} | {_num(s.objective, '.6g')} | {_num(s.bound, '.6g')} | "
            f"{_num(None if s.gap is None else 100 * s.gap, '.4f')} % | {s.solve_time_s:.2f} s |", ""]
    if s.message:
        out += [f"{s.message}", ""]
    if plan.violations:
        out += ["## Violations", ""] + [f"- {v}" for v in plan.violations] + [""]
    if plan.serving is not None:
        out += [serving_markdown(plan)]
    out += _budgets(plan) + _accelerators(plan) + list(sections)
    out += ["## Model", "", model_note(plan), ""]
    return "\n".join(out)


def write_report(plan: Plan, path: Path, problem: Problem | None = None, sections: Sequence[str] = ()) -> Path:
    """Write ``report.md`` atomically (``sections``: extra markdown, e.g. a comparison or Pareto fronts)."""
    return write_atomic(path, report_markdown(plan, problem, sections))
