"""The pipeline form: accelerators carved out of one device, each running its layers for every input.

A plan is a tuple of :class:`PipelineGroup` ``(config, layers)``, one per accelerator. Per
input, in seconds (what :func:`metrics` computes from the problem's tables):

- busy_a      = sum of the times of accelerator a's layers                      [stage time]
- period      = max(max_a busy_a, DDR bytes per input / DDR bandwidth)          [steady state]
- throughput  = 1 / period                                                      [inferences/s]
- latency     = sum_a busy_a + (batch - 1) * period                             [fill + drain of a batch]
- energy      = sum of layer energies + static power * period                   [J per inference]

The latency is the one the strategies price (linear in the plan). It is exact when every accelerator
runs consecutive layers. When an input returns to an accelerator it has left (a re-entrant plan),
it waits there while that accelerator serves other inputs, and no closed form gives the batch's
time: :func:`scheduled_latency_s` runs the plan's batch schedule on the operator times instead.

Budgets: the configurations' usage summed over accelerators stays within each resource's capacity.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from ..plan import AcceleratorPlan, Budget, Plan, SolverFacts, priced_plan
from . import SAME_INSTANT_S, Metrics, bound_violations
from .form import PlanForm

if TYPE_CHECKING:
    from ..problem import Problem


class PipelineGroup(NamedTuple):
    """One accelerator of a pipeline plan: its configuration (index into ``problem.configs``) and layer indices."""

    config: int
    layers: tuple[int, ...]


Groups = tuple[PipelineGroup, ...]


@dataclass(frozen=True)
class PipelineAccelerator(AcceleratorPlan):
    """A pipeline accelerator as its family's build flows name it (versal-aie: an A x B x C array of AI Engines,
    each computing an engine tile, with its PLIO ports and PL buffer; families that do not name a field leave
    its default)."""

    array: tuple[int, int, int] = (1, 1, 1)
    engine_tile: tuple[int, int, int] = (1, 1, 1)
    ports_in: int = 0
    ports_out: int = 0
    ports_lhs: int = 0  # of ports_in, the LHS streams (the rest carry the RHS)
    buffer_bytes: int = 0

    @property
    def tiles(self) -> dict[str, list[int]]:
        """Engine array shape and per-engine tile, as named in reports and configs."""
        return {"array": list(self.array), "engine_tile": list(self.engine_tile)}


def structure_violations(problem: "Problem", groups: Groups) -> list[str]:
    """Violations of the execution model: every layer once, the accelerator limit, contiguous groups where required."""
    out = []
    seen = sorted(l for _, ls in groups for l in ls)
    if seen != list(range(problem.n_layers)):
        out.append("every layer must be assigned to exactly one accelerator")
    if len(groups) > problem.accelerator_slots:
        out.append(f"{len(groups)} accelerators exceed the limit of {problem.accelerator_slots}")
    if any(not ls for _, ls in groups):
        out.append("an accelerator runs no layer")
    if problem.execution.contiguous and any(ls and list(ls) != list(range(ls[0], ls[-1] + 1)) for _, ls in groups):
        out.append(f"{problem.execution.name} execution needs each accelerator to run consecutive layers")
    return out


def stage_times(problem: "Problem", groups: Groups) -> tuple[float, ...]:
    """Each accelerator's busy time per input: the sum of its layers' times on its configuration [s]."""
    return tuple(float(problem.time_s[list(ls), c].sum()) for c, ls in groups)


def usage(problem: "Problem", groups: Groups) -> np.ndarray:
    """Each resource's use summed over the accelerators."""
    return sum((problem.usage[c] for c, _ in groups), np.zeros(len(problem.resources)))


def metrics(problem: "Problem", groups: Groups, check_bounds: bool = True) -> Metrics:
    """Price ``groups`` with the problem's tables (see the module docstring)."""
    violations = structure_violations(problem, groups)
    busy = stage_times(problem, groups)
    use = usage(problem, groups)
    for r, name in enumerate(problem.resources):
        if use[r] > problem.capacity[r] * (1 + 1e-9):
            violations.append(f"{name}: {use[r]:g} used of {problem.capacity[r]:g}")
    period = max(max(busy, default=0.0), problem.ddr_period_s)
    latency = sum(busy) + (problem.batch - 1) * period
    energy = float(sum(problem.energy_j[list(ls), c].sum() for c, ls in groups)) + problem.static_power_w * period
    if check_bounds:
        violations += bound_violations(problem, latency, period)
    return Metrics(busy, period, latency, energy, tuple(violations))


def busy_cap_s(problem: "Problem", incumbent_period_s: float | None = None) -> float:
    """An upper bound on any accelerator's stage time in a plan worth finding [s].

    The tightest of: all layers on their slowest configuration; the latency bound (a stage is part
    of the latency); 1 / throughput_min; and, for the throughput objective, an incumbent's period
    (a plan at least as good has a period no longer).
    """
    caps = [float(problem.time_s.max(axis=1).sum())]
    if problem.latency_max_s is not None:
        caps.append(problem.latency_max_s)
    if problem.throughput_min is not None:
        caps.append(1.0 / problem.throughput_min)
    if incumbent_period_s is not None and problem.objective == "throughput":
        caps.append(incumbent_period_s)
    return min(caps)


@dataclass(frozen=True)
class Reentry:
    """How one input moves through a plan's accelerators."""

    handoffs: int  # moves between accelerators, per input
    returns: int  # arrivals at an accelerator the input has left before


def reentry(problem: "Problem", groups: Groups) -> Reentry:
    """Hand-offs and returns of one input through ``groups``."""
    owner = {l: a for a, (_, ls) in enumerate(groups) for l in ls}
    chain = [owner[l] for l in range(problem.n_layers)]
    runs = [a for k, a in enumerate(chain) if k == 0 or chain[k - 1] != a]
    return Reentry(len(runs) - 1, len(runs) - len(set(runs)))


def batch_makespan_s(problem: "Problem", groups: Groups) -> float:
    """When the last of a batch's inputs leaves ``groups`` under the plan's dispatch rule, on the operator times alone.

    Every input is there at time 0 and goes through the layer chain; each accelerator runs one
    operator at a time and, when free, the ready one of the oldest input (then the lowest layer).
    Every end of an instant frees its accelerator and readies its successor before any accelerator
    picks. This is the rule :mod:`accelplan.simulate` replays, there with the weights streaming from
    the shared DDR as well.
    """
    accelerator, time_s = [0] * problem.n_layers, [0.0] * problem.n_layers
    for a, (c, ls) in enumerate(groups):
        for l in ls:
            accelerator[l], time_s[l] = a, float(problem.time_s[l, c])
    last = problem.n_layers - 1
    ready: list[list[tuple[int, int]]] = [[] for _ in groups]  # per accelerator: (input, layer) heap
    running: list[tuple[float, int, int]] = []  # (end, input, layer) heap
    idle = [True] * len(groups)
    ready[accelerator[0]] = [(i, 0) for i in range(problem.batch)]
    touched, now = {accelerator[0]}, 0.0
    while True:
        for a in touched:
            if idle[a] and ready[a]:
                i, l = heapq.heappop(ready[a])
                idle[a] = False
                heapq.heappush(running, (now + time_s[l], i, l))
        if not running:
            return now
        now, touched = running[0][0], set()
        while running and running[0][0] <= now + SAME_INSTANT_S:
            _, i, l = heapq.heappop(running)
            idle[accelerator[l]] = True
            touched.add(accelerator[l])
            if l < last:
                heapq.heappush(ready[accelerator[l + 1]], (i, l + 1))
                touched.add(accelerator[l + 1])


def scheduled_latency_s(problem: "Problem", groups: Groups, busy_s: tuple[float, ...], period_s: float) -> float | None:
    """A re-entrant plan's batch latency as its schedule runs it [s]: :func:`batch_makespan_s`, plus the (batch - 1)
    periods' excess of a DDR-paced period over the busiest accelerator that the closed form counts too. None when no
    input returns to an accelerator: the closed form is then the schedule's latency."""
    if not reentry(problem, groups).returns:
        return None
    return batch_makespan_s(problem, groups) + (problem.batch - 1) * (period_s - max(busy_s))


def ordered(groups: Groups) -> Groups:
    """Groups with sorted layers, by first layer."""
    out = [PipelineGroup(g.config, tuple(sorted(g.layers))) for g in groups]
    return tuple(sorted(out, key=lambda g: g.layers[0] if g.layers else 1 << 30))


def _accelerator(problem: "Problem", index: int, group: PipelineGroup, busy: float, period: float,
                 start: float) -> PipelineAccelerator:
    cfg = problem.configs[group.config]
    ls = group.layers
    macs = sum(problem.layers[l].gemm.macs for l in ls)
    return PipelineAccelerator(
        index=index, **cfg.plan_fields(), layers=tuple(problem.layers[l].name for l in ls),
        ops=tuple(op for l in ls for op in problem.layers[l].ops), busy_ms=busy * 1e3,
        utilization=busy / period if period else 0.0,
        mac_efficiency=macs / (cfg.units * problem.peak_macs_per_unit_s * busy) if busy else 0.0,
        start_ms=start * 1e3, pace_ms=period * 1e3,
        gemms=tuple((g.m, g.k, g.n, g.count) for g in (problem.layers[l].gemm for l in ls)))


def budgets(problem: "Problem", use: np.ndarray, period_s: float) -> tuple[Budget, ...]:
    """The shared resources' ``use``, and the DDR time per input against the period when the problem streams from DDR."""
    out = [Budget(name, float(u), float(cap), unit)
           for name, u, cap, unit in zip(problem.resources, use, problem.capacity, problem.resource_units)]
    if problem.ddr_period_s:
        out.append(Budget("DDR time per input (of the period)", problem.ddr_period_s * 1e3, period_s * 1e3, "ms"))
    return tuple(out)


class PipelineForm(PlanForm):
    """Accelerators carved out of one device, pipelined (see the module docstring)."""

    name = "pipeline"
    group = PipelineGroup
    accelerator = PipelineAccelerator
    replay = "accelplan.simulate.pipeline:layout"
    streams = True

    metrics = staticmethod(metrics)  # the module's pricing, as the form's

    def plan(self, problem: "Problem", groups: Groups, solver: SolverFacts | None = None,
             check_bounds: bool = True) -> Plan:
        """Per accelerator its configuration's own fields (``config.plan_fields()``), layers and timing."""
        groups = ordered(groups)
        met = metrics(problem, groups, check_bounds)
        period, start, accs = met.period_s, 0.0, []
        for i, (group, busy) in enumerate(zip(groups, met.busy_s)):
            accs.append(_accelerator(problem, i, group, busy, period, start))
            start += busy
        scheduled = None  # a plan missing a layer has no schedule
        if period != float("inf") and not structure_violations(problem, groups):
            scheduled = scheduled_latency_s(problem, groups, met.busy_s, period)
        return priced_plan(problem, met, accs, solver, groups, budgets=budgets(problem, usage(problem, groups), period),
                           scheduled_latency_ms=None if scheduled is None else scheduled * 1e3)

    def plan_groups(self, problem: "Problem", plan: Plan) -> Groups:
        index = {layer.name: i for i, layer in enumerate(problem.layers)}
        labels = {cfg.label: c for c, cfg in enumerate(problem.configs)}
        return tuple(PipelineGroup(labels[a.config], tuple(index[n] for n in a.layers)) for a in plan.accelerators)

    def replay_latency_s(self, problem: "Problem", groups: Groups, analytical: Metrics) -> float:
        """A re-entrant plan's scheduled latency (the closed form is no schedule's), else the closed form."""
        scheduled = scheduled_latency_s(problem, groups, analytical.busy_s, analytical.period_s)
        return analytical.latency_s if scheduled is None else scheduled

    def handoffs(self, problem: "Problem", groups: Groups) -> tuple[int, int]:
        moves = reentry(problem, groups)
        return moves.handoffs, moves.returns


FORM = PipelineForm()
