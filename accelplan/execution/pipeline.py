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
import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from ..plan import AcceleratorPlan, Budget, Plan, SolverFacts, priced_plan
from . import SAME_INSTANT_S, Metrics, bound_violations
from .bounds import layer_terms, layer_times, pipeline_bottleneck
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
    # the batch as the plan's dispatch runs it, in the order this accelerator runs them: (input, index into ``layers``,
    # start ms, end ms) per operator run; empty for a batch of more than RECORDED_OPERATORS_MAX runs
    schedule: tuple[tuple[int, int, float, float], ...] = ()

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


def latency_matters(problem: "Problem") -> bool:
    """Whether a search on ``problem`` reads plans' latency (a latency objective or bound on a batch of several
    inputs: one input alone never waits, so its schedule is the closed form)."""
    return problem.batch > 1 and (problem.objective == "latency" or problem.latency_max_s is not None)


def metrics(problem: "Problem", groups: Groups, check_bounds: bool = True, schedule: bool | None = None,
            recorded: BatchSchedule | None = None) -> Metrics:
    """Price ``groups`` with the problem's tables (see the module docstring). The latency of a re-entrant plan is its
    schedule's (:func:`scheduled_latency_s`; ``recorded``'s when it was run already) when ``schedule`` is True, or,
    by default, when :func:`latency_matters` (searches that read only the period skip the schedule: ``latency_s`` is
    then the closed form); a :class:`~accelplan.plan.Plan` is always priced with its schedule."""
    violations = structure_violations(problem, groups)
    busy = stage_times(problem, groups)
    use = usage(problem, groups)
    period = max(max(busy, default=0.0), problem.ddr_period_s)
    closed_form = sum(busy) + (problem.batch - 1) * period
    scheduled = None  # a plan missing a layer, or unpriceable, has no schedule
    if schedule is None:
        schedule = latency_matters(problem)
    if schedule and problem.batch > 1 and not violations and period != float("inf"):
        scheduled = scheduled_latency_s(problem, groups, busy, period, recorded)
    latency = closed_form if scheduled is None else scheduled
    energy = float(sum(problem.energy_j[list(ls), c].sum() for c, ls in groups)) + problem.static_power_w * period
    for r, name in enumerate(problem.resources):
        if use[r] > problem.capacity[r] * (1 + 1e-9):
            violations.append(f"{name}: {use[r]:g} used of {problem.capacity[r]:g}")
    if check_bounds:
        violations += bound_violations(problem, latency, period)
    return Metrics(busy, period, latency, energy, tuple(violations),
                   closed_form_s=None if scheduled is None else closed_form)


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


class Dispatch(NamedTuple):
    """A dispatch rule: when an accelerator is free it runs, of its ready operators, the one of least ``key(input,
    layer)``. A list schedule (no accelerator idles while it has a ready operator), as each accelerator's controller
    would run it."""

    name: str
    key: Callable[[int, int], tuple[int, int]]
    summary: str


#: The rules a plan chooses from (the first of equal makespans): the closed form's order first. Re-entrant lines
#: (an input returning to a station it has left) are scheduled by buffer priorities in the queueing literature:
#: first and last buffer first served (Kumar, "Re-entrant lines", Queueing Systems 13, 1993; Lu & Kumar, IEEE TAC 36(12),
#: 1991); neither is best on every plan, so a plan takes the one whose batch ends first.
DISPATCHES = (
    Dispatch("oldest-input", lambda i, l: (i, l), "the oldest input's ready layer first"),
    Dispatch("last-layer", lambda i, l: (-l, i), "the ready layer furthest along the chain first"),
    Dispatch("first-layer", lambda i, l: (l, i), "the ready layer earliest in the chain first"),
)
DISPATCH_NAMES = tuple(d.name for d in DISPATCHES)
RECORDED_OPERATORS_MAX = 20_000  # a plan records its batch's schedule up to this many operator runs


class Run(NamedTuple):
    """One operator run of a batch's schedule: input ``input`` at ``layer`` (the model's index), on ``accelerator``."""

    accelerator: int
    input: int
    layer: int
    start_s: float
    end_s: float


@dataclass(frozen=True)
class BatchSchedule:
    """How a batch runs through a plan under a dispatch rule, on the operator times alone."""

    dispatch: str
    makespan_s: float
    runs: tuple[Run, ...]  # in the order they start


def batch_schedule(problem: "Problem", groups: Groups, rule: Dispatch = DISPATCHES[0], record: bool = True) -> BatchSchedule:
    """Run a batch through ``groups`` under ``rule``: every input is there at time 0 and goes through the layer chain;
    each accelerator runs one operator at a time and, when free, its ready operator of least ``rule.key``. Every end
    of an instant frees its accelerator and readies its successor before any accelerator picks. This is the rule
    :mod:`accelplan.simulate` replays, there with the weights streaming from the shared DDR as well."""
    accelerator, time_s = [0] * problem.n_layers, [0.0] * problem.n_layers
    for a, (c, ls) in enumerate(groups):
        for l in ls:
            accelerator[l], time_s[l] = a, float(problem.time_s[l, c])
    last, key = problem.n_layers - 1, rule.key
    ready: list[list[tuple[tuple[int, int], int, int]]] = [[] for _ in groups]  # per accelerator: (key, input, layer)
    running: list[tuple[float, int, int]] = []  # (end, input, layer) heap
    idle, runs = [True] * len(groups), []
    ready[accelerator[0]] = sorted((key(i, 0), i, 0) for i in range(problem.batch))
    touched, now = {accelerator[0]}, 0.0
    while True:
        for a in sorted(touched):
            if idle[a] and ready[a]:
                _, i, l = heapq.heappop(ready[a])
                idle[a] = False
                heapq.heappush(running, (now + time_s[l], i, l))
                if record:
                    runs.append(Run(a, i, l, now, now + time_s[l]))
        if not running:
            return BatchSchedule(rule.name, now, tuple(runs))
        now, touched = running[0][0], set()
        while running and running[0][0] <= now + SAME_INSTANT_S:
            _, i, l = heapq.heappop(running)
            idle[accelerator[l]] = True
            touched.add(accelerator[l])
            if l < last:
                heapq.heappush(ready[accelerator[l + 1]], (key(i, l + 1), i, l + 1))
                touched.add(accelerator[l + 1])


def dispatched(problem: "Problem", groups: Groups, record: bool = True) -> BatchSchedule:
    """The batch's schedule under the rule of :data:`DISPATCHES` under which it ends first (the first of equals), its
    runs recorded when ``record``. A plan where no input returns to an accelerator it has left runs as a linear
    pipeline under every rule: the first alone is run. Otherwise each rule is run once unrecorded and the first-ending
    once more, recorded (recording costs about twice a run)."""
    if not reentry(problem, groups).returns:
        return batch_schedule(problem, groups, DISPATCHES[0], record)
    runs = [batch_schedule(problem, groups, rule, record=False) for rule in DISPATCHES]
    best = min(range(len(runs)), key=lambda k: (runs[k].makespan_s * (1 - 1e-12), k))
    return batch_schedule(problem, groups, DISPATCHES[best]) if record else runs[best]


def best_dispatch(problem: "Problem", groups: Groups) -> Dispatch:
    """The rule of :func:`dispatched`'s schedule."""
    name = dispatched(problem, groups, record=False).dispatch
    return next(rule for rule in DISPATCHES if rule.name == name)


def scheduled_latency_s(problem: "Problem", groups: Groups, busy_s: tuple[float, ...], period_s: float,
                        schedule: BatchSchedule | None = None) -> float | None:
    """A re-entrant plan's batch latency as its schedule runs it [s]: the makespan under its dispatch
    (:func:`dispatched`, or ``schedule`` when that was run already), plus the (batch - 1) periods' excess of a
    DDR-paced period over the busiest accelerator that the closed form counts too. None when no input returns to an
    accelerator: the closed form is then the schedule's latency."""
    if not reentry(problem, groups).returns:
        return None
    makespan = (schedule or dispatched(problem, groups, record=False)).makespan_s
    return makespan + (problem.batch - 1) * (period_s - max(busy_s))


def ordered(groups: Groups) -> Groups:
    """Groups with sorted layers, by first layer."""
    out = [PipelineGroup(g.config, tuple(sorted(g.layers))) for g in groups]
    return tuple(sorted(out, key=lambda g: g.layers[0] if g.layers else 1 << 30))


def _accelerator(problem: "Problem", index: int, group: PipelineGroup, busy: float, period: float, start: float,
                 runs: tuple[Run, ...]) -> PipelineAccelerator:
    cfg = problem.configs[group.config]
    ls = group.layers
    macs = sum(problem.layers[l].gemm.macs for l in ls)
    local = {l: k for k, l in enumerate(ls)}
    return PipelineAccelerator(
        index=index, **cfg.plan_fields(), layers=tuple(problem.layers[l].name for l in ls),
        ops=tuple(op for l in ls for op in problem.layers[l].ops), busy_ms=busy * 1e3,
        utilization=busy / period if period else 0.0,
        mac_efficiency=macs / (cfg.units * problem.peak_macs_per_unit_s * busy) if busy else 0.0,
        start_ms=start * 1e3, pace_ms=period * 1e3,
        gemms=tuple((g.m, g.k, g.n, g.count) for g in (problem.layers[l].gemm for l in ls)),
        schedule=tuple((r.input, local[r.layer], r.start_s * 1e3, r.end_s * 1e3) for r in runs if r.accelerator == index))


def plan_schedule(problem: "Problem", groups: Groups) -> BatchSchedule | None:
    """The batch's schedule under the plan's dispatch (:func:`dispatched`), or None for a plan that cannot be
    scheduled (a layer missing or repeated, a layer its configuration cannot run) or whose batch has more than
    RECORDED_OPERATORS_MAX operator runs."""
    if structure_violations(problem, groups) or problem.batch * problem.n_layers > RECORDED_OPERATORS_MAX:
        return None
    if not all(math.isfinite(t) for t in stage_times(problem, groups)):
        return None
    return dispatched(problem, groups)


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
        """Per accelerator its configuration's own fields (``config.plan_fields()``), layers, timing and its runs of
        the batch's schedule; the plan's latency is the schedule's (the closed form beside it where they differ)."""
        groups = ordered(groups)
        schedule = plan_schedule(problem, groups)  # run once: it gives the latency and each accelerator's runs
        met = metrics(problem, groups, check_bounds, schedule=True, recorded=schedule)
        period, start, accs = met.period_s, 0.0, []
        runs = schedule.runs if schedule is not None else ()
        for i, (group, busy) in enumerate(zip(groups, met.busy_s)):
            accs.append(_accelerator(problem, i, group, busy, period, start, runs))
            start += busy
        closed = met.closed_form_s
        times = layer_times(problem, groups)  # per layer its time and what sets it (accelplan.execution.bounds)
        return priced_plan(problem, met, accs, solver, groups, budgets=budgets(problem, usage(problem, groups), period),
                           closed_form_latency_ms=None if closed is None else closed * 1e3,
                           dispatch=schedule.dispatch if schedule is not None else "",
                           layer_terms=layer_terms(problem), layer_times=times,
                           bottleneck=pipeline_bottleneck(problem, [a.config for a in accs], met.busy_s, period, times))

    def plan_groups(self, problem: "Problem", plan: Plan) -> Groups:
        index = {layer.name: i for i, layer in enumerate(problem.layers)}
        labels = {cfg.label: c for c, cfg in enumerate(problem.configs)}
        return tuple(PipelineGroup(labels[a.config], tuple(index[n] for n in a.layers)) for a in plan.accelerators)

    def replay_latency_s(self, problem: "Problem", groups: Groups, analytical: Metrics) -> float:
        """The plan's latency, its schedule's (a re-entrant plan's closed form is no schedule's)."""
        scheduled = scheduled_latency_s(problem, groups, analytical.busy_s, analytical.period_s)
        return analytical.latency_s if scheduled is None else scheduled

    def schedule_relaxation(self, problem: "Problem") -> "Problem | None":
        """When a search reads latency (:func:`latency_matters`) and plans may be re-entrant (neither one accelerator
        nor consecutive layers per accelerator): the problem on a batch of one, whose closed form is one input's
        chain (sum of stage times), with a period of at most latency_max / batch where the DDR time allows.

        Valid for every plan of ``problem`` on its schedule ``S`` (any dispatch): one input's chain runs in sequence,
        so ``S >= sum of busy``; the busiest accelerator runs the whole batch's work on it, ``S >= batch x busy``; and
        ``S >= busy + (batch - 1) x period`` with a DDR-paced period. So a plan with ``S <= latency_max`` has a chain
        within latency_max and, when the DDR time per input is at most latency_max / batch, a period within it too;
        and min ``S`` is at least the relaxation's least chain."""
        if problem.execution.single or problem.execution.contiguous or not latency_matters(problem):
            return None
        bound, floor = problem.latency_max_s, problem.throughput_min
        if bound is not None and problem.ddr_period_s * problem.batch <= bound:
            floor = max(floor or 0.0, problem.batch / bound)
        return replace(problem, batch=1, throughput_min=floor)

    def handoffs(self, problem: "Problem", groups: Groups) -> tuple[int, int]:
        moves = reentry(problem, groups)
        return moves.handoffs, moves.returns


FORM = PipelineForm()
