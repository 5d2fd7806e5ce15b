"""The pipeline form: accelerators carved out of one device, each running its layers for every input.

A plan is a tuple of groups ``(configuration index, layer indices)``, one per accelerator. Per
input, in seconds (what :func:`metrics` computes from the problem's tables):

- busy_a      = sum of the times of accelerator a's layers                      [stage time]
- period      = max(max_a busy_a, DDR bytes per input / DDR bandwidth)          [steady state]
- throughput  = 1 / period                                                      [inferences/s]
- latency     = sum_a busy_a + (batch - 1) * period                             [fill + drain of a batch]
- energy      = sum of layer energies + static power * period                   [J per inference]

Budgets: the configurations' usage summed over accelerators stays within each resource's capacity.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from . import Metrics, bound_violations

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
