"""``report.html``: one self-contained file (inline CSS, inline SVG figures) a person reads in a browser.

Rendered from the Jinja2 templates under ``templates/`` (``report.html.j2``, ``report.css``) with the sections the
Markdown report has (:func:`accelplan.reports.sections.plan_sections`), so both carry the same sections. The plan's
figures are SVG drawn from templates (:mod:`.figures`, no matplotlib): the plan as a picture, the Gantt chart of one
batch as the plan's schedule runs it, per-accelerator utilisation, the per-layer roofline. The Pareto plot, when
fronts are given, is matplotlib's PNG (drawn as ``pareto.png`` is) as a data URI.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Sequence
from pathlib import Path

from ..families import ReportTable
from ..outputs import write_atomic
from ..plan import Plan
from ..problem import Problem
from . import figures as fig
from .jinja import template
from .sections import Section, facts_table, heading, model_section, plan_sections
from .tables import fmt, title

#: the figures a section may name, each drawn from the plan alone as SVG markup
FIGURES: dict[str, Callable[[Plan], str]] = {
    "plan": fig.plan_picture, "gantt": fig.gantt, "utilisation": fig.utilisation, "roofline": fig.roofline,
}


def _uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def extra_sections(plan: Plan, fronts: Sequence | None = None, comparison: Sequence | None = None,
                   reference: Plan | None = None) -> tuple[list[Section], dict[str, str]]:
    """The command's own sections (the reference, both latencies, the strategies compared, the Pareto fronts) and
    the images they draw (data URIs)."""
    out, drawn = [], {}
    if reference is not None:
        from .reference import reference_sentences, reference_table
        out.append(Section(reference_table(plan, reference).title, tables=(reference_table(plan, reference),),
                           paragraphs=("; ".join(reference_sentences(plan, reference)) + ".",)))
    if plan.closed_form_latency_ms is not None:
        from .batch_latency import batch_latency_table
        table = batch_latency_table(plan)
        out.append(Section(table.title, tables=(table,)))
    if comparison:
        out.append(Section("Strategies compared", left=2, tables=(ReportTable("", (
            "strategy", "status", "objective", "bound", "gap to best bound", "wall s", "evaluations", "note"), tuple(
            (r.strategy, r.status, fmt(r.objective, ".6g"), fmt(r.bound, ".6g"),
             "—" if r.gap is None else f"{100 * r.gap:.3f} %", f"{r.solve_time_s:.2f}", fmt(r.evaluations, "d"),
             r.message) for r in comparison)),)))
    if fronts:
        from . import pareto
        drawn["pareto"] = _uri(pareto.pareto_png(fronts, title(plan)))
        sentences = tuple(pareto.pareto_sentences(fronts)) if hasattr(pareto, "pareto_sentences") else ()
        rows = pareto.pareto_rows(fronts)
        batch = ("batch",) if rows and "batch" in rows[0] else ()
        out.append(Section("Latency–throughput Pareto fronts", figure="pareto", caption="Pareto fronts",
                           items=sentences, tables=(ReportTable("", (
                               "execution", "#", *batch, "latency ms", "throughput inf/s", "energy mJ", "exact", "plan"),
                               tuple((r["execution"], r["point"], *((r["batch"],) if batch else ()),
                                      f"{r['latency_ms']:.4f}", f"{r['throughput']:.2f}", f"{r['energy_mj']:.4f}",
                                      "yes" if r["exact"] else "no", r["plan_file"]) for r in rows)),)))
    return out, drawn


def report_html(plan: Plan, problem: Problem | None = None, fronts: Sequence | None = None,
                comparison: Sequence | None = None, reference: Plan | None = None) -> str:
    """The whole report as one HTML document (``reference``: the same model's plan on the study's reference
    hardware); ``problem`` is not read."""
    sections = plan_sections(plan)
    extra, drawn = extra_sections(plan, fronts, comparison, reference)
    sections += extra + [model_section(plan)]
    svgs = {s.figure: FIGURES[s.figure](plan) for s in sections if s.figure in FIGURES}
    return template("report.html.j2").render(heading=heading(plan), facts=facts_table(plan), sections=sections,
                                             svgs=svgs, images=drawn)


def write_html(plan: Plan, path: Path, problem: Problem | None = None, fronts: Sequence | None = None,
               comparison: Sequence | None = None, reference: Plan | None = None) -> Path:
    """Write ``report.html`` atomically."""
    return write_atomic(path, report_html(plan, problem, fronts, comparison, reference))
