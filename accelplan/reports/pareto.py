"""Pareto fronts as CSV, a PNG plot (matplotlib) and a markdown section."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..sweeps import Front, Win, wins
from .compare import csv_text
from .png import png_bytes

COLUMNS = ("execution", "point", "batch", "latency_ms", "closed_form_latency_ms", "throughput", "energy_mj", "period_ms",
           "accelerators", "exact", "strategy", "latency_bound_ms", "plan_file")


def plan_file_name(execution: str, index: int) -> str:
    """Where a front point's plan is written, relative to the output folder."""
    return f"pareto/{execution}-{index}.yaml"


def pareto_rows(fronts: Sequence[Front]) -> list[dict[str, Any]]:
    """One row per front point: its latency is its plan's as scheduled (the closed form beside it where it differs)."""
    return [{"execution": f.execution, "point": i, "batch": p.plan.batch, "latency_ms": p.latency_ms,
             "closed_form_latency_ms": p.plan.closed_form_latency_ms, "throughput": p.throughput,
             "energy_mj": p.energy_mj, "period_ms": p.plan.period_ms, "accelerators": len(p.plan.accelerators),
             "exact": p.exact, "strategy": p.strategy, "latency_bound_ms": p.latency_bound_ms,
             "plan_file": plan_file_name(f.execution, i)}
            for f in fronts for i, p in enumerate(f.points)]


def pareto_csv(fronts: Sequence[Front]) -> str:
    """CSV with a header row."""
    return csv_text(COLUMNS, pareto_rows(fronts))


def pareto_png(fronts: Sequence[Front], title: str) -> bytes:
    """All fronts on one latency-throughput plot (steps: the best throughput within each latency)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8.5, 4.5), dpi=120)
    styles = [("tab:gray", "s"), ("tab:blue", "o"), ("tab:red", "^"), ("tab:green", "D")]  # by front, narrowest first
    right = max((p.latency_ms for f in fronts for p in f.points), default=1.0) * 1.15
    for i, f in enumerate(fronts):
        if not f.points:
            continue
        color, marker = styles[i % len(styles)]
        xs = [p.latency_ms for p in f.points] + [right]
        ys = [p.throughput for p in f.points] + [f.points[-1].throughput]
        ax.step(xs, ys, where="post", color=color, alpha=0.6)
        batches = sorted({p.plan.batch for p in f.points})
        ax.scatter(xs[:-1], ys[:-1], color=color, marker=marker,
                   label=f"{f.execution} ({f.strategy}{', exact' if f.exact else ''}; batch "
                         f"{','.join(map(str, batches))})")
    ax.set_xlabel("batch latency as scheduled (ms)")
    ax.set_ylabel("throughput (inferences/s)")
    ax.set_xlim(left=0, right=right)
    ax.set_ylim(bottom=0)
    ax.set_title(title)
    return png_bytes(fig, ax)


def _range(low: float, high: float | None) -> str:
    return f"from {low:.4g} ms up" if high is None else f"from {low:.4g} to {high:.4g} ms"


def win_sentence(win: Win) -> str:
    """Where one execution model wins, in one sentence."""
    if win.lowest_ms is None:
        return f"{win.execution}: no plan."
    if not win.ranges:
        return (f"{win.execution} gives the most throughput under no latency bound: another execution model's front "
                f"is at least as good everywhere (its fastest plan takes {win.lowest_ms:.4g} ms).")
    where = ", and ".join(_range(a, b) for a, b in win.ranges)
    return (f"{win.execution} gives the most throughput for latency bounds {where} (up to {win.throughput:,.1f} "
            f"inferences/s; its fastest plan takes {win.lowest_ms:.4g} ms).")


def pareto_sentences(fronts: Sequence[Front]) -> list[str]:
    """One sentence per front: the latency bounds under which its execution model gives the most throughput (an
    empty front: why)."""
    return [win_sentence(w) if f.points or not f.message else f"{f.execution}: no plan ({f.message})."
            for f, w in zip(fronts, wins(fronts))]


def pareto_markdown(fronts: Sequence[Front]) -> str:
    """The fronts' section of a report: latencies as the plans' schedules run them."""
    out = ["## Latency–throughput Pareto fronts", "", "![Pareto fronts](pareto.png)", ""]
    out += [f"- {line}" for line in pareto_sentences(fronts)]
    out += ["", "Latencies are each plan's batch as its schedule runs it.", "",
            "| execution | # | batch | latency ms | throughput inf/s | energy mJ | accelerators | exact | plan |",
            "|---|---|---|---|---|---|---|---|---|"]
    for row in pareto_rows(fronts):
        out.append(f"| {row['execution']} | {row['point']} | {row['batch']} | {row['latency_ms']:.4f} | "
                   f"{row['throughput']:.2f} | {row['energy_mj']:.4f} | {row['accelerators']} | "
                   f"{'yes' if row['exact'] else 'no'} | `{row['plan_file']}` |")
    out.append("")
    for f in fronts:
        if f.message:
            out.append(f"- {f.execution} ({f.strategy}): {f.message}")
    return "\n".join(out) + "\n"
