"""A plan on a chain of devices as a :class:`~accelplan.plan.Plan`: per device its blocks, their parallelism and weights."""

from __future__ import annotations

from ...execution import devices as dev
from ...plan import AcceleratorPlan, Budget, Groups, Plan, SolverFacts, priced_plan
from ...problem import Problem


def _device(problem: Problem, d: int, ls: tuple, cs: tuple, load: dev.DeviceLoad, period: float, start: float) -> AcceleratorPlan:
    t = problem.devices
    macs = sum(problem.layers[l].gemm.macs for l in ls)
    lanes = sum(problem.configs[c].lanes for c in cs)
    busy = load.busy_s
    return AcceleratorPlan(
        index=d, config=t.kinds[load.kind], units=int(load.use[0]), layers=tuple(problem.layers[l].name for l in ls),
        ops=tuple(op for l in ls for op in problem.layers[l].ops), busy_ms=busy * 1e3,
        utilization=busy / period if period else 0.0,
        mac_efficiency=macs / (lanes * float(t.clock_hz[load.kind]) * busy) if busy else 0.0,
        start_ms=start * 1e3, pace_ms=period * 1e3,
        gemms=tuple((g.m, g.k, g.n, g.count) for g in (problem.layers[l].gemm for l in ls)),
        array=(len(ls), 1, 1), buffer_bytes=int(load.use[3]),
        layer_tiles=tuple((problem.configs[c].pm, problem.configs[c].pk, problem.configs[c].pn) for c in cs),
        placements=tuple("on-chip" if problem.configs[c].onchip else "streamed" for c in cs),
        part=t.parts[load.kind])


def _budgets(problem: Problem, loads: list[dev.DeviceLoad]) -> tuple[Budget, ...]:
    out = []
    for d, load in enumerate(loads):
        cap = problem.devices.capacity[load.kind]
        out += [Budget(f"device {d}: {name}", used, float(c), "B" if name.endswith("bytes") else "")
                for name, used, c in zip(dev.RESOURCES, load.use, cap)]
    return tuple(out)


def device_plan(problem: Problem, groups: Groups, solver: SolverFacts | None = None, check_bounds: bool = True) -> Plan:
    """Price ``groups`` (device position, layers, configuration per layer) and describe every device."""
    groups = tuple(sorted(((d, tuple(ls), tuple(cs)) for d, ls, cs in groups), key=lambda g: g[0]))
    met = dev.metrics(problem, groups, check_bounds)
    finite = met.period_s != float("inf")
    accs, budgets, bottleneck = [], (), ""
    if finite:
        loads = dev.loads(problem, groups)
        start = 0.0
        for (d, ls, cs), load in zip(groups, loads):
            accs.append(_device(problem, d, ls, cs, load, met.period_s, start))
            start += sum(load.block_s) + (problem.devices.link_latency_s if load.link_bytes else 0.0)
        budgets, bottleneck = _budgets(problem, loads), dev.bottleneck(problem, groups, loads)
    return priced_plan(problem, met, accs, solver, budgets=budgets, bottleneck=bottleneck)
