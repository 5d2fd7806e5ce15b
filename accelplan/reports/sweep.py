"""A sweep's outputs: ``sweep.csv`` (one row per point), ``best.csv``, ``pareto.csv``, ``sweep.png`` and ``report.md``.

Everything is read from the :class:`~accelplan.sweep.results.SweepResult` and the selections of
:mod:`accelplan.sweep.results`; nothing is solved or priced here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..sweep.results import PointResult, SweepResult, best_per_model, pareto_front
from .compare import csv_text
from .png import png_bytes

METRICS = ("status", "objective_name", "objective", "bound", "gap", "throughput", "latency_ms", "energy_mj",
           "solve_time_s", "cost_name", "cost", "strategy", "cached", "plan_file", "message")


def plan_file_name(point_id: str) -> str:
    """Where a point's plan is written, relative to the sweep's output folder."""
    return f"points/{point_id}/plan.yaml"


def point_rows(result: SweepResult, rows: Sequence[PointResult] | None = None) -> list[dict[str, Any]]:
    """One plain row per point: its id, its value of every axis, then the facts of its solve."""
    out = []
    for r in result.rows if rows is None else rows:
        row: dict[str, Any] = {"point": r.id, **{p.axis: p.value for p in r.params}}
        row |= {"status": r.status, "objective_name": r.objective_name, "objective": r.objective, "bound": r.bound,
                "gap": r.gap, "throughput": r.throughput, "latency_ms": r.latency_ms, "energy_mj": r.energy_mj,
                "solve_time_s": round(r.solve_time_s, 4), "cost_name": r.cost.name if r.cost else None,
                "cost": r.cost.value if r.cost else None, "strategy": r.strategy, "cached": r.cached,
                "plan_file": plan_file_name(r.id) if r.plan is not None else None,
                "message": " ".join(r.message.split())}
        out.append(row)
    return out


def _columns(result: SweepResult) -> tuple[str, ...]:
    return ("point", *result.axes, *METRICS)


def sweep_csv(result: SweepResult) -> str:
    """Every point, in the sweep's order."""
    return csv_text(_columns(result), point_rows(result))


def best_csv(result: SweepResult) -> str:
    """The best point per model (and objective)."""
    return csv_text(_columns(result), point_rows(result, best_per_model(result.rows)))


def pareto_csv(result: SweepResult) -> str:
    """The points on each model's front of hardware cost (lower) against throughput (higher)."""
    return csv_text(_columns(result), point_rows(result, pareto_front(result.rows)))


def sweep_png(result: SweepResult) -> bytes:
    """Throughput against hardware cost: every feasible point, each model's Pareto front as a staircase."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8.5, 4.5), dpi=120)
    front = pareto_front(result.rows)
    colors = ["tab:blue", "tab:red", "tab:green", "tab:orange", "tab:purple", "tab:brown", "tab:gray"]
    cost_names = sorted({r.cost.name for r in result.rows if r.cost is not None})
    for i, model in enumerate(dict.fromkeys(r.model for r in result.rows)):
        color = colors[i % len(colors)]
        points = [r for r in result.rows if r.model == model and r.feasible and r.cost and r.throughput]
        ax.scatter([r.cost.value for r in points], [r.throughput for r in points], color=color, alpha=0.35, s=18,
                   label=f"{model}: {len(points)} feasible points")
        steps = [r for r in front if r.model == model]
        if steps:
            ax.step([r.cost.value for r in steps], [r.throughput for r in steps], where="post", color=color)
            ax.scatter([r.cost.value for r in steps], [r.throughput for r in steps], color=color, marker="D", s=30,
                       label=f"{model}: Pareto front ({len(steps)})")
    ax.set_xlabel(f"hardware cost ({', '.join(cost_names) or 'none'})")
    ax.set_ylabel("throughput (inferences/s)")
    ax.set_ylim(bottom=0)
    ax.set_title(f"Sweep {result.name}")
    return png_bytes(fig, ax)


def _num(value: Any, spec: str) -> str:
    return "—" if value is None else format(value, spec)


def _table(result: SweepResult, rows: Sequence[PointResult]) -> list[str]:
    head = ["point", *result.axes, "status", "objective", "throughput inf/s", "latency ms", "energy mJ", "cost",
            "solve s", "plan"]
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        cells = [r.id, *(str(p.value) for p in r.params), r.status, _num(r.objective, ".6g"), _num(r.throughput, ".2f"),
                 _num(r.latency_ms, ".4f"), _num(r.energy_mj, ".4f"),
                 f"{r.cost.value:g} {r.cost.name}" if r.cost else "—", f"{r.solve_time_s:.2f}",
                 f"`{plan_file_name(r.id)}`" if r.plan is not None else "—"]
        out.append("| " + " | ".join(c.replace("|", "/") for c in cells) + " |")
    return out


def sweep_summary(result: SweepResult) -> str:
    """One line: points, how many were solved and how many came from the cache, on how many workers, wall time."""
    feasible = sum(r.feasible for r in result.rows)
    where = (f" on {result.workers} worker{'s' if result.workers != 1 else ''} ({result.scheduler})"
             if result.scheduler else "")
    return (f"{len(result.rows)} points ({feasible} feasible): {result.computed} solved{where}, "
            f"{result.cached} from the cache; {result.wall_s:.1f} s")


def sweep_text(result: SweepResult) -> str:
    """What the terminal shows: the best point per model and the summary line."""
    best = best_per_model(result.rows)
    table = ["Best point per model:", *_table(result, best)] if best else ["No point has a feasible plan."]
    return "\n".join([*table, sweep_summary(result)])


def sweep_markdown(result: SweepResult) -> str:
    """The sweep's report: summary, best point per model, the Pareto front, points that failed, every point."""
    statuses: dict[str, int] = {}
    for r in result.rows:
        statuses[r.status] = statuses.get(r.status, 0) + 1
    out = [f"# Sweep {result.name}", "", f"`{result.file}`: {sweep_summary(result)}.", "",
           "Statuses: " + ", ".join(f"{k} {v}" for k, v in statuses.items()) + ".", "",
           "## Best point per model", "", *_table(result, best_per_model(result.rows)), "",
           "## Pareto front: hardware cost against throughput", "",
           "No point beats a front point on both (lower cost, higher throughput); per model.", "",
           "![throughput against hardware cost](sweep.png)", "", *_table(result, pareto_front(result.rows)), ""]
    failed = [r for r in result.rows if r.plan is None]
    if failed:
        out += ["## Points without a plan", ""]
        out += [f"- {r.id} ({r.status}): {' '.join(r.message.split())}" for r in failed] + [""]
    out += ["## Every point", "", *_table(result, result.rows), ""]
    return "\n".join(out)
