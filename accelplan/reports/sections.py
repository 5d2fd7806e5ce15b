"""The sections of a plan's report, built once and rendered twice: as Markdown (:mod:`.markdown`) and as HTML
(:mod:`.html`, through the Jinja2 templates), so both carry the same sections in the same order.

A section is a title, paragraphs, an optional table, an optional figure (drawn in the HTML only; the Markdown says
what it shows), bullet items and sub-sections (one per accelerator: its operators). Everything is read from the
:class:`~accelplan.plan.Plan` and its family's words and tables; nothing is priced here.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..families import ReportTable
from ..plan import Plan
from .tables import (accelerator_table, budget_rows, fmt, model_note, operator_list, plan_facts, study_bounds, title,
                     words)


@dataclass(frozen=True)
class Section:
    """One section of a report (see the module docstring); ``left``: the table's leading columns set flush left;
    ``figure``: the name of the figure the HTML draws (:data:`accelplan.reports.html.FIGURES`), ``caption`` its
    description (the Markdown prints it in its place)."""

    title: str
    paragraphs: tuple[str, ...] = ()
    tables: tuple[ReportTable, ...] = ()  # each with its title above it unless the title is empty or the section's
    left: int = 1
    figure: str = ""
    caption: str = ""
    items: tuple[str, ...] = ()
    subsections: tuple[tuple[str, tuple[str, ...]], ...] = ()  # (heading, code items)


def heading(plan: Plan) -> str:
    return f"Deployment plan: {title(plan)}"


def facts_table(plan: Plan) -> ReportTable:
    facts = plan_facts(plan, [(words(plan).accelerators, len(plan.accelerators)), ("segments", plan.segments)])
    return ReportTable("", ("", ""), tuple((label, value) for label, value in facts))


def solver_section(plan: Plan) -> Section:
    s = plan.solver
    gap = "—" if s.gap is None else f"{100 * s.gap:.4f} %"
    table = ReportTable("", ("strategy", "status", "objective", "best bound", "gap", "wall time"),
                        ((s.strategy, s.status, fmt(s.objective, ".6g"), fmt(s.bound, ".6g"), gap,
                          f"{s.solve_time_s:.2f} s"),))
    return Section("Solver", tables=(table,), left=2, paragraphs=(s.message,) if s.message else ())


def _schedule_caption(plan: Plan) -> str:
    recorded = any(getattr(a, "schedule", ()) for a in plan.accelerators)
    what = (f"every operator run of the batch of {plan.batch} as the plan's schedule runs it: one row per "
            f"{words(plan).accelerator}, one bar per (input, layer), coloured by input"
            if recorded else
            f"one bar per ({words(plan).accelerator}, input): input i starts at the {words(plan).accelerator}'s "
            "start + i × its pace")
    from .figures import gantt_bars
    covered = max((s + w for _, s, w, _, _ in gantt_bars(plan)), default=0.0)
    rest = (plan.latency_ms or 0.0) - covered
    gap = (f" The last {rest:.4g} ms (shaded) are the batch's costs not placed on a {words(plan).accelerator} "
           "(the model note says which)." if rest > 1e-6 * (plan.latency_ms or 1.0) else "")
    return f"{what}; the time axis ends at the plan's latency, {fmt(plan.latency_ms, '.4f')} ms.{gap}"


def _bounds_paragraph(plan: Plan) -> tuple[str, ...]:
    text = study_bounds(plan)
    return (text,) if text else ()


def layer_table(plan: Plan) -> ReportTable:
    """Per layer: its accelerator, time, the term that sets it, each term's time and its MAC efficiency."""
    header = ("layer", "#", "time ms", "bound", *(f"{t} ms" for t in plan.layer_terms), "MAC efficiency")
    rows = tuple((t.name, t.accelerator, f"{t.time_ms:.4f}", t.bound or "—",
                  *(f"{v:.4f}" for v in t.terms_ms), *(("—",) * (len(plan.layer_terms) - len(t.terms_ms))),
                  f"{t.mac_efficiency:.1%}") for t in plan.layer_times)
    return ReportTable("Layers: time and what sets it", header, rows)


def _layer_paragraphs(plan: Plan) -> tuple[str, ...]:
    if not plan.layer_terms:
        return ("Per layer, its time per input on its accelerator and its MAC efficiency (useful MACs / the "
                "accelerator's peak MAC rate × time); this family's cost model names no terms.",)
    counts: dict[str, float] = {}
    for t in plan.layer_times:
        counts[t.bound] = counts.get(t.bound, 0.0) + t.time_ms
    total = sum(counts.values()) or 1.0
    split = ", ".join(f"{name or 'unnamed'} {100 * ms / total:.0f} %" for name, ms in
                      sorted(counts.items(), key=lambda kv: -kv[1]))
    return (f"Per layer, its time per input and each term of its family's cost model ({', '.join(plan.layer_terms)}); "
            "the bound is the term that sets the time (the largest of the terms that overlap, unless an added one "
            "is larger). MAC efficiency = useful MACs / (the accelerator's peak MAC rate × time): a busy accelerator "
            "is far from its peak where transfers, launches or padding set its layers' times. Time by bound: "
            f"{split}.",)


def plan_sections(plan: Plan) -> list[Section]:
    """The sections every plan report has, in order, before the command's own (comparisons, fronts) and the model."""
    out = [solver_section(plan)]
    if plan.violations:
        out.append(Section("Violations", items=tuple(plan.violations)))
    if plan.serving is not None:
        from .serving import serving_section
        out.append(serving_section(plan, Section))
    if plan.accelerators:
        w = words(plan)
        table = accelerator_table(plan)
        subs = tuple((f"{w.accelerator.capitalize()} {a.index} ({a.config}{', ' + a.when() if plan.segments > 1 else ''})",
                      tuple(operator_list(a))) for a in plan.accelerators)
        out += [Section("The plan", figure="plan", caption=f"the {w.accelerators} as boxes sized by their {w.units}, "
                        "with their configuration and first operators"),
                Section("Schedule of one batch", figure="gantt", caption=_schedule_caption(plan),
                        paragraphs=_bounds_paragraph(plan)),
                Section("Utilisation", figure="utilisation",
                        caption=f"per {w.accelerator}: busy share of the period and, inside it, the useful MAC share "
                                "(busy share × MAC efficiency)"),
                Section(table.title, tables=(table,), left=2, subsections=subs)]
        if plan.layer_times:
            out += [Section("Layers: time and what sets it", paragraphs=_layer_paragraphs(plan), tables=(layer_table(plan),),
                            left=1),
                    Section("Roofline", figure="roofline",
                            caption="per layer (a point, coloured by its bound): the share of its accelerator's peak "
                                    "MAC rate it attains against its compute time over its slowest transfer time "
                                    "(the ridge at 1: compute-bound to the right); the roof is the attainable share "
                                    "with no padding, kernel or launch loss", paragraphs=_bounds_paragraph(plan))]
    if plan.budgets:
        out.append(Section("Shared budgets", tables=(ReportTable("", ("resource", "used", "available"),
                                                                 tuple(budget_rows(plan))),), left=1))
    return out


def model_section(plan: Plan) -> Section:
    return Section("Model", paragraphs=(model_note(plan),))


def markdown_section(section: Section) -> str:
    """One section as Markdown."""
    out = [f"## {section.title}", ""]
    if section.figure:
        out += [f"*Figure (in report.html): {section.caption}*", ""]
    for p in section.paragraphs:
        out += [p, ""]
    for table in section.tables:
        if table.title and table.title != section.title:
            out += [f"{table.title}:", ""]
        out += [markdown_table(table), ""]
    if section.items:
        out += [f"- {item}" for item in section.items] + [""]
    for head, code in section.subsections:
        out += [f"### {head}", "", ", ".join(f"`{c}`" for c in code), ""]
    return "\n".join(out)


def markdown_table(table: ReportTable) -> str:
    cells = lambda row: "| " + " | ".join(str(v).replace("|", "/") for v in row) + " |"  # noqa: E731
    return "\n".join([cells(table.header), "|" + "---|" * len(table.header), *(cells(r) for r in table.rows)])
