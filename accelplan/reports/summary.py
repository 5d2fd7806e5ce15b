"""The short table printed after a solve and the JSON object scripts read."""

from __future__ import annotations

from typing import Any

from ..plan import Plan
from .batch_latency import batch_latency_line
from .reference import reference_json, reference_line
from .serving import serving_json, serving_line
from .tables import accelerator_table, headline, study_bounds


def summary_json(plan: Plan, reference: Plan | None = None) -> dict[str, Any]:
    """One JSON object with the solve's facts and the plan's metrics (names are a stable interface); with a
    ``reference`` plan (the study's reference hardware), its metrics and the plan's ratios under ``reference``.
    ``latency_ms`` is the batch's latency as the plan's schedule runs it; ``closed_form_latency_ms`` a re-entrant plan's
    closed form beside it (None: the same), ``dispatch`` the rule its accelerators pick their next operator by."""
    s = plan.solver
    return {
        "status": s.status, "strategy": s.strategy, "objective": s.objective, "bound": s.bound, "gap": s.gap,
        "objective_kind": plan.objective, "execution": plan.execution, "model": plan.model, "hardware": plan.hardware,
        "batch": plan.batch, "latency_ms": plan.latency_ms,
        "closed_form_latency_ms": plan.closed_form_latency_ms, "dispatch": plan.dispatch or None,
        "throughput": plan.throughput, "energy_mj": plan.energy_mj,
        "period_ms": plan.period_ms, "solve_time_s": s.solve_time_s,
        "accelerators": [{"index": a.index, "config": a.config, "units": a.units, "tiles": a.tiles, "ops": list(a.ops),
                          "layers": list(a.layers), "busy_ms": a.busy_ms, "utilization": a.utilization,
                          **a.details()}
                         for a in plan.accelerators],
        "family": plan.family, "segments": plan.segments, "bottleneck": plan.bottleneck,
        "latency_max_ms": plan.latency_max_ms, "throughput_min": plan.throughput_min,
        "layers": [{"name": t.name, "accelerator": t.accelerator, "time_ms": t.time_ms, "bound": t.bound,
                    "mac_efficiency": t.mac_efficiency} for t in plan.layer_times],
        "message": s.message, "serving": serving_json(plan),
        **({"reference": reference_json(plan, reference)} if reference is not None else {}),
    }


def _fmt(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def summary_table(plan: Plan, reference: Plan | None = None) -> str:
    """A few lines for the terminal (with a ``reference`` plan, a line comparing with it; for a re-entrant plan, a
    line giving the closed form beside its scheduled latency)."""
    s = plan.solver
    lines = [
        headline(plan, f"objective {plan.objective}", f"batch {plan.batch}"),
        f"status {s.status} ({s.strategy}, {s.solve_time_s:.2f} s)  objective {_fmt(s.objective, '.6g')}  "
        f"bound {_fmt(s.bound, '.6g')}  gap {'-' if s.gap is None else f'{100 * s.gap:.3f}%'}",
        f"throughput {_fmt(plan.throughput, '.2f')} inf/s  latency {_fmt(plan.latency_ms, '.4f')} ms  "
        f"energy {_fmt(plan.energy_mj, '.4f')} mJ/inf",
    ]
    if plan.serving is not None:
        lines[-1] = serving_line(plan)
    if plan.closed_form_latency_ms is not None:
        lines.append(batch_latency_line(plan))
    if plan.accelerators:
        table = accelerator_table(plan)
        cells = [[str(v) for v in table.header]] + [[str(v) for v in row] for row in table.rows]
        widths = [max(len(r[i]) for r in cells) for i in range(len(table.header))]
        lines += ["  ".join(c.rjust(w) if i != 1 else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths))) for r in cells]
    if plan.bottleneck:
        lines.append(f"bottleneck: {plan.bottleneck}")
    if plan.latency_max_ms is not None or plan.throughput_min is not None:
        lines.append(study_bounds(plan))
    if s.message and not plan.accelerators:
        lines.append(s.message)
    if reference is not None and plan.accelerators:
        lines.append(reference_line(plan, reference))
    return "\n".join(lines)
