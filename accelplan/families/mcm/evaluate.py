"""A segment plan on a chiplet package as a :class:`~accelplan.plan.Plan`: clusters with their mappings and schedule."""

from __future__ import annotations

from ...execution import segments as seg
from ...plan import AcceleratorPlan, Budget, Groups, Plan, SolverFacts, _ordered, priced_plan
from ...problem import Problem


def _schedule(groups: Groups, busy: tuple[float, ...], batch: int) -> list[tuple[float, float]]:
    """(start, pace) of each cluster in one batch: segments one after another, each pipelined at its slowest cluster.

    Fixed costs (weights loaded once, reconfiguration, DRAM round trips) are not placed in time.
    """
    spans: dict[int, list[float]] = {}
    for (_, _, s), b in zip(groups, busy):
        spans.setdefault(s, []).append(b)
    offsets, t = {}, 0.0
    for s in sorted(spans):
        offsets[s] = t
        t += sum(spans[s]) + (batch - 1) * max(spans[s])
    out, within = [], {}
    for (_, _, s), b in zip(groups, busy):
        out.append((offsets[s] + within.get(s, 0.0), max(spans[s])))
        within[s] = within.get(s, 0.0) + b
    return out


def _cluster(problem: Problem, index: int, group: tuple, busy: float, period: float, when: tuple[float, float]) -> AcceleratorPlan:
    c, ls, s = group
    cfg = problem.configs[c]
    maps = [problem.segments.mappings[l][c] for l in ls]
    macs = sum(problem.layers[l].gemm.macs for l in ls)
    return AcceleratorPlan(
        index=index, config=cfg.label, units=cfg.units, layers=tuple(problem.layers[l].name for l in ls),
        ops=tuple(op for l in ls for op in problem.layers[l].ops), busy_ms=busy * 1e3,
        utilization=busy / period if period not in (0, float("inf")) else 0.0,
        mac_efficiency=macs / (cfg.units * problem.peak_macs_per_unit_s * busy) if busy else 0.0,
        start_ms=when[0] * 1e3, pace_ms=when[1] * 1e3,
        gemms=tuple((g.m, g.k, g.n, g.count) for g in (problem.layers[l].gemm for l in ls)),
        array=(cfg.rows, cfg.cols, 1), engine_tile=maps[0].tile if maps else (1, 1, 1),
        buffer_bytes=int(sum(m.weight_bytes_per_chiplet for m in maps)
                         + max((m.buffer_bytes_per_chiplet for m in maps), default=0)),
        segment=s, partitions=tuple((m.weight_groups, m.input_groups) for m in maps), layer_tiles=tuple(m.tile for m in maps))


def segment_plan(problem: Problem, groups: Groups, solver: SolverFacts | None = None, check_bounds: bool = True) -> Plan:
    """Price ``groups`` (configuration, layers, segment) by the segment model and describe every cluster."""
    groups = _ordered(groups)
    met = seg.metrics(problem, groups, check_bounds)
    finite = met.period_s != float("inf")
    schedule = _schedule(groups, met.busy_s, problem.batch) if finite else [(0.0, 0.0)] * len(groups)
    accs = [_cluster(problem, i, g, b, met.period_s, w) for i, (g, b, w) in enumerate(zip(groups, met.busy_s, schedule))]
    budgets = tuple(Budget(f"segment {s}: chiplets ({count} cluster{'s' if count != 1 else ''})", used, problem.segments.chiplets)
                    for s, (used, count) in sorted(seg.segment_use(problem, groups).items())) if finite else ()
    return priced_plan(problem, met, accs, solver, segments=len({g[2] for g in groups}), budgets=budgets)
