"""``report.md``: the plan explained for a person, with the sections of ``report.html``
(:func:`accelplan.reports.sections.plan_sections`; the figures are in the HTML, each named here with what it shows)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from ..outputs import write_atomic
from ..plan import Plan
from ..problem import Problem
from .batch_latency import TITLE as BATCH_LATENCY, batch_latency_markdown
from .sections import facts_table, heading, markdown_section, markdown_table, model_section, plan_sections


def report_markdown(plan: Plan, problem: Problem | None = None, sections: Sequence[str] = ()) -> str:
    """Markdown report: the facts, the plan's sections, ``sections`` (the command's own, already Markdown: a reference,
    both latencies, a comparison, Pareto fronts), then the model.

    Everything comes from the plan and its family's words and tables (``problem`` is not read).
    """
    out = [f"# {heading(plan)}", "", markdown_table(facts_table(plan)), ""]
    out += [markdown_section(s) for s in plan_sections(plan)]
    given = list(sections)
    titles = {text.split("\n", 1)[0] for text in given}
    if plan.closed_form_latency_ms is not None and f"## {BATCH_LATENCY}" not in titles:
        given.append(batch_latency_markdown(plan))  # as the HTML has it (a caller may give it itself)
    out += given
    out += [markdown_section(model_section(plan))]
    return "\n".join(out)


def write_report(plan: Plan, path: Path, problem: Problem | None = None, sections: Sequence[str] = ()) -> Path:
    """Write ``report.md`` atomically (``sections``: extra markdown, e.g. a comparison or Pareto fronts)."""
    return write_atomic(path, report_markdown(plan, problem, sections))
