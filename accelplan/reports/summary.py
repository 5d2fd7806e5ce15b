"""The short table printed after a solve and the JSON object scripts read."""

from __future__ import annotations

from typing import Any

from ..plan import Plan


def summary_json(plan: Plan) -> dict[str, Any]:
    """One JSON object with the solve's facts and the plan's metrics (names are a stable interface)."""
    s = plan.solver
    return {
        "status": s.status, "strategy": s.strategy, "objective": s.objective, "bound": s.bound, "gap": s.gap,
        "objective_kind": plan.objective, "execution": plan.execution, "model": plan.model, "hardware": plan.hardware,
        "batch": plan.batch, "latency_ms": plan.latency_ms, "throughput": plan.throughput, "energy_mj": plan.energy_mj,
        "period_ms": plan.period_ms, "solve_time_s": s.solve_time_s,
        "accelerators": [{"index": a.index, "config": a.config, "units": a.units, "tiles": a.tiles, "ops": list(a.ops),
                          "layers": list(a.layers), "busy_ms": a.busy_ms, "utilization": a.utilization,
                          **({"segment": a.segment, "partitions": [list(p) for p in a.partitions]} if plan.family == "mcm" else {})}
                         for a in plan.accelerators],
        "family": plan.family, "segments": plan.segments,
        "message": s.message,
    }


def _fmt(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def summary_table(plan: Plan) -> str:
    """A few lines for the terminal."""
    s = plan.solver
    lines = [
        f"{plan.model} on {plan.hardware} | {plan.execution} | objective {plan.objective} | batch {plan.batch}",
        f"status {s.status} ({s.strategy}, {s.solve_time_s:.2f} s)  objective {_fmt(s.objective, '.6g')}  "
        f"bound {_fmt(s.bound, '.6g')}  gap {_fmt(None if s.gap is None else 100 * s.gap, '.3f')}%",
        f"throughput {_fmt(plan.throughput, '.2f')} inf/s  latency {_fmt(plan.latency_ms, '.4f')} ms  "
        f"energy {_fmt(plan.energy_mj, '.4f')} mJ/inf",
    ]
    if plan.accelerators and plan.family == "mcm":
        lines.append(f"{'#':>3}  {'seg':>3}  {'cluster':<22} {'layers':>6} {'busy ms':>9} {'util':>6}")
        for a in plan.accelerators:
            lines.append(f"{a.index:>3}  {a.segment:>3}  {a.config:<22} {len(a.layers):>6} {a.busy_ms:>9.4f} {a.utilization:>6.1%}")
    elif plan.accelerators:
        lines.append(f"{'acc':>3}  {'config':<18} {'units':>5} {'ports':>7} {'layers':>6} {'busy ms':>9} {'util':>6}")
        for a in plan.accelerators:
            lines.append(f"{a.index:>3}  {a.config:<18} {a.units:>5} {a.ports_in:>3}/{a.ports_out:<3} "
                         f"{len(a.layers):>6} {a.busy_ms:>9.4f} {a.utilization:>6.1%}")
    if s.message and not plan.accelerators:
        lines.append(s.message)
    return "\n".join(lines)
