"""The strategy comparison as a markdown table, CSV and JSON."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from typing import Any

from ..sweeps import Comparison, ExecutionResult
from .png import png_bytes

COLUMNS = ("strategy", "status", "objective", "bound", "gap", "solve_time_s", "evaluations", "throughput",
           "latency_ms", "energy_mj", "message")


def comparison_json(rows: Sequence[Comparison]) -> list[dict[str, Any]]:
    """One object per strategy (null where a strategy has no value)."""
    return [{k: row.to_dict()[k] for k in COLUMNS} for row in rows]


def csv_text(columns: Sequence[str], rows: Sequence[dict[str, Any]]) -> str:
    """CSV with a header row of ``columns``; empty cells for None."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow(["" if row[k] is None else row[k] for k in columns])
    return buf.getvalue()


def comparison_csv(rows: Sequence[Comparison]) -> str:
    """CSV with a header row; empty cells where a strategy has no value."""
    return csv_text(COLUMNS, comparison_json(rows))


def _num(value: float | None, spec: str) -> str:
    return "—" if value is None else format(value, spec)


def comparison_markdown(rows: Sequence[Comparison], objective: str) -> str:
    """Markdown table; the gap is to the best bound any strategy proved."""
    unit = {"throughput": "inf/s", "latency": "ms", "energy": "mJ"}[objective]
    out = [f"| strategy | status | objective ({objective}, {unit}) | own bound | gap to best bound | wall time s | "
           "evaluations / nodes | throughput inf/s | latency ms | note |", "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        out.append(f"| {r.strategy} | {r.status} | {_num(r.objective, '.6g')} | {_num(r.bound, '.6g')} | "
                   f"{'—' if r.gap is None else f'{100 * r.gap:.3f} %'} | {r.solve_time_s:.2f} | "
                   f"{_num(r.evaluations, 'd')} | {_num(r.throughput, '.2f')} | {_num(r.latency_ms, '.4f')} | "
                   f"{r.message.replace('|', '/')} |")
    return "\n".join(out) + "\n"


EXECUTION_COLUMNS = ("execution", "reference", "strategy", "status", "throughput", "latency_ms", "energy_mj", "solve_time_s", "segments", "clusters",
                     "baseline", "throughput_ratio", "message")


def executions_json(rows: Sequence[ExecutionResult]) -> list[dict[str, Any]]:
    """One object per execution model."""
    return [{k: row.to_dict()[k] for k in EXECUTION_COLUMNS} for row in rows]


def executions_csv(rows: Sequence[ExecutionResult]) -> str:
    return csv_text(EXECUTION_COLUMNS, executions_json(rows))


def _short(execution: str) -> str:
    """An execution model's name without its last word when it has several (merged-pipeline: merged)."""
    return execution.rsplit("-", 1)[0]


def executions_markdown(rows: Sequence[ExecutionResult]) -> str:
    """Table of the best plan per execution model (and on the reference hardware), then the most general model's
    ratio to the pipeline baseline and the best plan's ratios to the reference."""
    out = ["| execution | strategy | status | throughput inf/s | latency ms | energy mJ/inf | segments | clusters | "
           "vs baseline | solve s | note |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        name = f"{r.execution} ({r.reference}, reference)" if r.reference else r.execution
        out.append(f"| {name} | {r.strategy} | {r.status} | {_num(r.throughput, '.2f')} | {_num(r.latency_ms, '.4f')} | "
                   f"{_num(r.energy_mj, '.4f')} | {r.segments} | {r.clusters} | "
                   f"{'—' if r.throughput_ratio is None else f'{r.throughput_ratio:.3f}×'} | {r.solve_time_s:.2f} | {r.message.replace('|', '/')} |")
    own = [r for r in rows if not r.reference]
    last = own[-1] if own else None
    if last is not None and last.throughput_ratio is not None and last.execution != last.baseline:
        base = next(r for r in own if r.execution == last.baseline)
        energy = (f", energy {last.energy_mj / base.energy_mj:.3f}×" if last.energy_mj is not None and base.energy_mj else "")
        out += ["", f"{_short(last.execution)}/{_short(last.baseline)} throughput: "
                    f"{last.throughput_ratio:.3f}×{energy}"]
    out += _versus_reference(own, [r for r in rows if r.reference])
    return "\n".join(out) + "\n"


def _versus_reference(own: Sequence[ExecutionResult], references: Sequence[ExecutionResult]) -> list[str]:
    """The best own plan's throughput and energy per inference against each reference plan."""
    solved = [r for r in own if r.plan is not None and r.plan.feasible and r.throughput]
    if not solved:
        return []
    best = max(solved, key=lambda r: r.throughput)
    out = []
    for ref in references:
        if ref.throughput and best.energy_mj is not None and ref.energy_mj:
            out += ["", f"{best.execution} against {ref.reference} ({ref.execution}): throughput "
                        f"{best.throughput / ref.throughput:.3f}×, energy per inference "
                        f"{best.energy_mj / ref.energy_mj:.3f}×"]
    return out


ANYTIME_COLUMNS = ("strategy", "seconds", "objective", "bound")


def anytime_rows(rows: Sequence[Comparison]) -> list[dict[str, Any]]:
    """Every strategy's anytime curve (its best objective and bound over time, as the solver recorded them)."""
    return [{"strategy": r.strategy, "seconds": p.seconds, "objective": p.objective, "bound": p.bound}
            for r in rows if r.plan is not None for p in r.plan.solver.progress]


def anytime_csv(rows: Sequence[Comparison]) -> str:
    """The anytime curves as CSV: one row per point, empty cells where a strategy had no value yet."""
    return csv_text(ANYTIME_COLUMNS, anytime_rows(rows))


def anytime_png(rows: Sequence[Comparison], objective: str, title: str) -> bytes:
    """Objective (solid steps) and bound (dashed steps) of every strategy against seconds."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    unit = {"throughput": "inferences/s", "latency": "ms", "energy": "mJ"}[objective]
    fig, ax = plt.subplots(figsize=(8.5, 4.5), dpi=120)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, r in enumerate(r for r in rows if r.plan is not None and r.plan.solver.progress):
        color, points = colors[i % len(colors)], r.plan.solver.progress
        for field, style, label in (("objective", "-", r.strategy), ("bound", "--", f"{r.strategy} bound")):
            curve = [(p.seconds, getattr(p, field)) for p in points if getattr(p, field) is not None]
            if curve:
                ax.step(*zip(*curve), where="post", linestyle=style, color=color, label=label, marker=".")
    ax.set_xlabel("seconds since the strategy started")
    ax.set_ylabel(f"{objective} ({unit})")
    ax.set_title(title)
    return png_bytes(fig, ax)
