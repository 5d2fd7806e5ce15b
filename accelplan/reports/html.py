"""``report.html``: one self-contained file (inline CSS, PNG figures as data URIs) a person reads in a browser.

Figures (matplotlib, drawn off-screen): the plan as a picture (accelerators as boxes whose length is
their unit count, with their operators), a pipeline Gantt chart of one batch
(input ``i`` enters accelerator ``a`` at ``start_a + i * pace_a``, the schedule the evaluator
recorded in the plan), per-accelerator utilisation bars, and the Pareto plot when fronts
are given. The strategy comparison and the Pareto points are tables.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Sequence
from pathlib import Path

from ..outputs import write_atomic
from ..plan import Plan
from ..problem import Problem
from .tables import accelerator_table, operator_list, plan_facts, quantity, title, words

CSS = """
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 1100px; color: #222; }
h1 { font-size: 1.5rem; } h2 { font-size: 1.2rem; margin-top: 2rem; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; margin: 0.5rem 0; font-size: 0.9rem; }
td, th { border: 1px solid #ccc; padding: 0.25rem 0.6rem; text-align: right; }
th { background: #f3f3f3; } td.l, th.l { text-align: left; }
img { max-width: 100%; display: block; margin: 0.5rem 0; }
.ops { font-family: monospace; font-size: 0.8rem; color: #555; }
"""


def _plt():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def _png(fig) -> str:
    from .figures import png_bytes
    return "data:image/png;base64," + base64.b64encode(png_bytes(fig, dpi=110)).decode("ascii")


def _img(src: str, alt: str) -> str:
    return f'<img src="{src}" alt="{html.escape(alt)}">'


def plan_picture(plan: Plan) -> str:
    """Accelerators as boxes whose length is their unit count, with configuration and operators beside them."""
    plt = _plt()
    n = max(1, len(plan.accelerators))
    fig, ax = plt.subplots(figsize=(10, 0.4 + 0.55 * n))
    widest = max((a.units for a in plan.accelerators), default=1)
    colors = plt.get_cmap("tab10")
    for row, a in enumerate(plan.accelerators):
        ax.add_patch(plt.Rectangle((0, row - 0.4), a.units, 0.8, facecolor=colors(a.index % 10), alpha=0.45,
                                   edgecolor="black"))
        names = ", ".join(a.layers[:5]) + (f", … (+{len(a.layers) - 5})" if len(a.layers) > 5 else "")
        where = f"{a.when()}, " if plan.segments > 1 else ""
        ax.text(widest * 1.02, row, f"#{a.index} {where}{a.config}, {a.units} {words(plan).units}: {names}", va="center", fontsize=8)
    ax.set_xlim(0, widest * 2.6)
    ax.set_ylim(n - 0.5, -0.5)
    ax.set_yticks([])
    ax.set_xticks([0, widest])
    ax.set_xlabel(words(plan).units)
    for side in ("top", "right", "left"):
        ax.spines[side].set_visible(False)
    w = words(plan)
    ax.set_title(f"{len(plan.accelerators)} {w.accelerators} using {sum(a.units for a in plan.accelerators)} {w.units}"
                 + (f" in {plan.segments} segments" if plan.segments > 1 else ""))
    return _png(fig)


def gantt(plan: Plan) -> str:
    """Pipeline schedule of one batch: a bar per (accelerator, input), input ``i`` at ``start + i * pace``
    (each accelerator's place in the schedule, as the evaluator recorded it in the plan)."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(10, 0.5 + 0.45 * max(1, len(plan.accelerators))))
    colors = plt.get_cmap("tab20")
    for s, a in enumerate(plan.accelerators):
        bars = [(a.start_ms + i * a.pace_ms, a.busy_ms) for i in range(plan.batch)]
        ax.broken_barh(bars, (s - 0.4, 0.8), facecolors=[colors(i % 20) for i in range(plan.batch)])
    ax.set_yticks(range(len(plan.accelerators)), [f"#{a.index}" for a in plan.accelerators])
    ax.invert_yaxis()
    ax.set_xlabel("time (ms)")
    ax.set_title(f"one batch of {plan.batch}: latency {plan.latency_ms:.3f} ms, period {plan.period_ms or 0:.4f} ms")
    ax.grid(True, axis="x", alpha=0.3)
    return _png(fig)


def utilisation(plan: Plan) -> str:
    """Busy share of the period, per accelerator."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(10, 0.5 + 0.4 * max(1, len(plan.accelerators))))
    labels = [f"#{a.index} {a.config}" for a in plan.accelerators]
    ax.barh(labels, [100 * a.utilization for a in plan.accelerators], color="tab:blue", label="busy / period")
    ax.barh(labels, [100 * a.mac_efficiency * a.utilization for a in plan.accelerators], color="tab:orange",
            label="useful MAC share")
    ax.set_xlim(0, 100)
    ax.set_xlabel("% of the pipeline period")
    ax.invert_yaxis()
    ax.legend(loc="lower right", fontsize=8)
    return _png(fig)


def _table(header: Sequence[str] | None, rows: Sequence[Sequence[object]], left: int = 1) -> str:
    def cell(tag: str, i: int, v: object) -> str:
        return f"<{tag}{' class=l' if i < left else ''}>{html.escape(str(v))}</{tag}>"
    out = ["<table>"] + (["<tr>" + "".join(cell("th", i, h) for i, h in enumerate(header)) + "</tr>"] if header else [])
    out += ["<tr>" + "".join(cell("td", i, v) for i, v in enumerate(r)) + "</tr>" for r in rows]
    return "\n".join(out) + "</table>"


def _f(value: float | None, spec: str) -> str:
    return "—" if value is None else format(value, spec)


def report_html(plan: Plan, problem: Problem | None = None, fronts: Sequence | None = None,
                comparison: Sequence | None = None, reference: Plan | None = None) -> str:
    """The whole report as one HTML document (``reference``: the same model's plan on the study's reference
    hardware)."""
    s = plan.solver
    heading = f"Deployment plan: {title(plan)}"
    solver = f"{s.strategy}: {s.status}, bound {_f(s.bound, '.6g')}, " \
             f"gap {_f(None if s.gap is None else 100 * s.gap, '.4f')} %, {s.solve_time_s:.2f} s"
    body = [f"<h1>{html.escape(heading)}</h1>", _table(None, [*plan_facts(plan), ("solver", solver)], left=2)]
    if plan.violations:
        body += ["<h2>Violations</h2><ul>"] + [f"<li>{html.escape(v)}</li>" for v in plan.violations] + ["</ul>"]
    if plan.accelerators:
        table = accelerator_table(plan)
        body += ["<h2>The plan</h2>", _img(plan_picture(plan), "accelerators as boxes sized by units"),
                 "<h2>Pipeline of one batch</h2>", _img(gantt(plan), "pipeline Gantt chart"),
                 "<h2>Utilisation</h2>", _img(utilisation(plan), "utilisation per accelerator"),
                 f"<h2>{html.escape(table.title)}</h2>", _table(table.header, table.rows, left=2)]
        for a in plan.accelerators:
            body.append(f"<p><b>#{a.index}</b> <span class=ops>{html.escape(', '.join(operator_list(a)))}</span></p>")
    if reference is not None:
        from .reference import reference_table
        versus = reference_table(plan, reference)
        body += [f"<h2>{html.escape(versus.title)}</h2>", _table(versus.header, versus.rows, left=1)]
    if plan.closed_form_latency_ms is not None:
        from .batch_latency import batch_latency_table
        both = batch_latency_table(plan)
        body += [f"<h2>{html.escape(both.title)}</h2>", _table(both.header, both.rows, left=1)]
    if comparison:
        body += ["<h2>Strategies compared</h2>",
                 _table(["strategy", "status", "objective", "bound", "gap to best bound", "wall s", "evaluations", "note"],
                        [[r.strategy, r.status, _f(r.objective, ".6g"), _f(r.bound, ".6g"),
                          _f(None if r.gap is None else 100 * r.gap, ".3f") + " %", f"{r.solve_time_s:.2f}",
                          _f(r.evaluations, "d"), r.message] for r in comparison], left=2)]
    if fronts:
        from .pareto import pareto_png, pareto_rows
        src = "data:image/png;base64," + base64.b64encode(pareto_png(fronts, title(plan))).decode()
        body += ["<h2>Latency–throughput Pareto fronts</h2>", _img(src, "Pareto fronts"),
                 _table(["execution", "#", "latency ms", "throughput inf/s", "energy mJ", "exact", "plan"],
                        [[r["execution"], r["point"], f"{r['latency_ms']:.4f}", f"{r['throughput']:.2f}",
                          f"{r['energy_mj']:.4f}", "yes" if r["exact"] else "no", r["plan_file"]]
                         for r in pareto_rows(fronts)], left=1)]
    if plan.budgets:
        body += ["<h2>Shared budgets</h2>",
                 _table(["resource", "used", "available"],
                        [[b.name, quantity(b.used, b.unit), quantity(b.available, b.unit)] for b in plan.budgets])]
    return (f"<!DOCTYPE html>\n<html lang=en><head><meta charset=utf-8><title>{html.escape(heading)}</title>"
            f"<style>{CSS}</style></head><body>\n" + "\n".join(body) + "\n</body></html>\n")


def write_html(plan: Plan, path: Path, problem: Problem | None = None, fronts: Sequence | None = None,
               comparison: Sequence | None = None, reference: Plan | None = None) -> Path:
    """Write ``report.html`` atomically."""
    return write_atomic(path, report_html(plan, problem, fronts, comparison, reference))
