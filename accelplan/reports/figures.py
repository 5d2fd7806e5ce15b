"""Matplotlib figures as PNG bytes, finished the one way every report draws them."""

from __future__ import annotations

import io
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..plan import Plan


def png_bytes(fig: Any, ax: Any = None, dpi: float | None = None) -> bytes:
    """``fig`` as PNG (closed afterwards); with ``ax``, first a light grid and the legend outside the axes, on the
    right, where it never hides a point."""
    import matplotlib.pyplot as plt

    if ax is not None:
        ax.grid(True, alpha=0.3)
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8)
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png", bbox_inches="tight", **({"dpi": dpi} if dpi else {}))  # no label clipped
    plt.close(fig)
    return buf.getvalue()


# ------------------------------------------------------------------------------------------ a plan's figures
# Each reads the plan (and its family's words) alone; the HTML report embeds them (accelplan.reports.html.FIGURES).


def _plt():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def _short(text: str, most: int = 90) -> str:
    return text if len(text) <= most else text[:most - 1] + "…"


def plan_picture(plan: "Plan") -> bytes:
    """Accelerators as boxes whose length is their unit count, with configuration and operators beside them; the
    title counts the units in use at once (a plan of segments reuses the device: its busiest segment's)."""
    from .tables import words
    plt = _plt()
    w = words(plan)
    n = max(1, len(plan.accelerators))
    fig, ax = plt.subplots(figsize=(11, 0.6 + 0.5 * n))
    widest = max((a.units for a in plan.accelerators), default=1)
    colors = plt.get_cmap("tab10")
    for row, a in enumerate(plan.accelerators):
        ax.add_patch(plt.Rectangle((0, row - 0.4), a.units, 0.8, facecolor=colors(a.index % 10), alpha=0.45,
                                   edgecolor="black"))
        names = ", ".join(a.layers[:4]) + (f", … (+{len(a.layers) - 4})" if len(a.layers) > 4 else "")
        where = f"{a.when()}, " if plan.segments > 1 else ""
        size = "" if w.units in a.config else f", {a.units} {w.units}"
        ax.text(widest * 1.03, row, _short(f"#{a.index} {where}{a.config}{size}: {names}"),
                va="center", fontsize=8, clip_on=False)
    ax.set_xlim(0, widest)
    ax.set_ylim(n - 0.5, -0.5)
    ax.set_yticks([])
    ax.set_xticks([0, widest])
    ax.set_xlabel(w.units)
    for side in ("top", "right", "left"):
        ax.spines[side].set_visible(False)
    per_segment: dict[object, int] = {}
    for a in plan.accelerators:
        key = a.when()
        per_segment[key] = per_segment.get(key, 0) + a.units
    at_once = max(per_segment.values(), default=0)
    ax.set_title(f"{len(plan.accelerators)} {w.accelerators} using {at_once} {w.units}"
                 + (f" at once (the most of any of its {plan.segments} segments)" if plan.segments > 1 else ""),
                 loc="left")
    fig.subplots_adjust(right=0.42)
    return png_bytes(fig, dpi=110)


def gantt_bars(plan: "Plan") -> list[tuple[int, float, float, int, int]]:
    """The bars the Gantt chart draws: (row, start ms, width ms, input, layer index into the accelerator's layers or
    -1). From each accelerator's recorded ``schedule`` (every operator run of the batch as the plan's dispatch runs
    it) where the plan records one, else input ``i`` at ``start_ms + i * pace_ms`` for ``busy_ms``."""
    bars = []
    scheduled = any(getattr(a, "schedule", ()) for a in plan.accelerators)
    for row, a in enumerate(plan.accelerators):
        if scheduled:
            bars += [(row, start, end - start, i, layer) for i, layer, start, end in getattr(a, "schedule", ())]
        else:
            bars += [(row, a.start_ms + i * a.pace_ms, a.busy_ms, i, -1) for i in range(plan.batch)]
    return bars


def gantt_figure(plan: "Plan"):
    """The Gantt chart as a matplotlib (figure, axes): :func:`gantt_bars` coloured by input, layers named where a bar
    is wide enough, the time axis from 0 to the plan's latency, the study's latency bound as a line when it is within."""
    from .tables import words
    plt = _plt()
    n = max(1, len(plan.accelerators))
    fig, ax = plt.subplots(figsize=(11, 0.8 + 0.5 * n))
    colors = plt.get_cmap("tab20")
    bars = gantt_bars(plan)
    end = plan.latency_ms or max((s + w for _, s, w, _, _ in bars), default=1.0)
    for row in range(len(plan.accelerators)):
        mine = [b for b in bars if b[0] == row]
        ax.broken_barh([(s, w) for _, s, w, _, _ in mine], (row - 0.4, 0.8),
                       facecolors=[colors(i % 20) for *_, i, _ in mine], edgecolor="white", linewidth=0.3)
    labelled = 0
    for row, s, w, i, layer in bars:  # sparse labels: wide bars only, at most 40
        if layer >= 0 and w >= end / 25 and labelled < 40:
            ax.text(s + w / 2, row, _short(plan.accelerators[row].layers[layer], 14), ha="center", va="center",
                    fontsize=6, clip_on=True)
            labelled += 1
    covered = max((s + w for _, s, w, _, _ in bars), default=0.0)
    if covered < end * (1 - 1e-6):
        ax.axvspan(covered, end, color="grey", alpha=0.15, hatch="//")
        ax.text((covered + end) / 2, -0.45, f"not placed: {end - covered:.4g} ms", ha="center", va="top", fontsize=7)
    if plan.latency_max_ms is not None and plan.latency_max_ms <= end:
        ax.axvline(plan.latency_max_ms, color="red", linestyle="--", linewidth=1)
    ax.set_xlim(0, end)
    ax.set_yticks(range(len(plan.accelerators)), [f"#{a.index}" for a in plan.accelerators])
    ax.set_ylim(n - 0.5, -0.5)
    ax.set_xlabel("time (ms)")
    ax.set_ylabel(words(plan).accelerator)
    ax.set_title(f"one batch of {plan.batch}: latency {_fmt(plan.latency_ms, '.4f')} ms, period "
                 f"{_fmt(plan.period_ms, '.4f')} ms" + (f"; colour = input" if plan.batch > 1 else ""), loc="left")
    ax.grid(True, axis="x", alpha=0.3)
    return fig, ax


def _fmt(value: float | None, spec: str) -> str:
    return "—" if value is None else format(value, spec)


def gantt(plan: "Plan") -> bytes:
    fig, _ = gantt_figure(plan)
    return png_bytes(fig, dpi=110)


def utilisation(plan: "Plan") -> bytes:
    """Busy share of the period and useful MAC share, per accelerator; the legend outside the bars."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(11, 0.8 + 0.4 * max(1, len(plan.accelerators))))
    labels = [_short(f"#{a.index} {a.config}", 40) for a in plan.accelerators]
    ax.barh(labels, [100 * a.utilization for a in plan.accelerators], color="tab:blue", label="busy / period")
    ax.barh(labels, [100 * a.mac_efficiency * a.utilization for a in plan.accelerators], color="tab:orange",
            label="useful MAC share")
    ax.set_xlim(0, 100)
    ax.set_xlabel("% of the pipeline period")
    ax.invert_yaxis()
    return png_bytes(fig, ax, dpi=110)


def roofline_points(plan: "Plan") -> list[tuple[str, float, float, str]]:
    """(layer, compute time / slowest other term, attained share of the peak, bound) per layer whose terms the plan
    records: the first term is the compute time; the others are the transfers and fixed costs it is set against."""
    out = []
    for t in plan.layer_times:
        if len(t.terms_ms) < 2 or t.terms_ms[0] <= 0:
            continue
        other = max(t.terms_ms[1:])
        out.append((t.name, t.terms_ms[0] / other if other > 0 else float("inf"), t.mac_efficiency, t.bound))
    return out


def roofline(plan: "Plan") -> bytes:
    """Normalised roofline: per layer the attained share of its accelerator's peak MAC rate against compute time over
    its slowest other term (1: the ridge); the roof min(1, x)."""
    import math
    plt = _plt()
    points = [p for p in roofline_points(plan) if math.isfinite(p[1])]
    fig, ax = plt.subplots(figsize=(9, 4.5))
    xs = [p[1] for p in points] or [1.0]
    lo, hi = min(min(xs) / 2, 0.1), max(max(xs) * 2, 10.0)
    grid = [lo * (hi / lo) ** (k / 100) for k in range(101)]
    ax.plot(grid, [min(1.0, x) for x in grid], color="black", linewidth=1.2, label="roof (no loss)")
    cmap = plt.get_cmap("tab10")
    for k, bound in enumerate(dict.fromkeys(p[3] for p in points)):
        mine = [p for p in points if p[3] == bound]
        ax.scatter([p[1] for p in mine], [p[2] for p in mine], s=18, color=cmap(k % 10), label=f"{bound or '—'}-bound")
    ax.set_xscale("log")
    ax.set_xlim(lo, hi)
    ax.set_ylim(0, 1.05)
    ax.set_xlabel("compute time / slowest other term (ridge at 1)")
    ax.set_ylabel("attained share of the peak MAC rate")
    ax.set_title(f"roofline of {len(points)} layers", loc="left")
    return png_bytes(fig, ax, dpi=110)
