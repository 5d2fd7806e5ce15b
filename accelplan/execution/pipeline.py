"""The pipeline form: accelerators carved out of one device, each running its layers for every input.

A plan is a tuple of groups ``(configuration index, layer indices)``, one per accelerator. Per
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
from typing import TYPE_CHECKING

import numpy as np

from . import SAME_INSTANT_S, Metrics, bound_violations

if TYPE_CHECKING:
    from ..problem import Problem

Groups = tuple[tuple[int, tuple[int, ...]], ...]  # (configuration index, layer indices) per accelerator


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
