"""The replicated form: data-parallel replicas, k identical accelerators each running the whole model.

A plan is one :class:`ReplicaGroup` ``(config, replicas)``: ``replicas`` accelerators of configuration
``config``, each running every layer, one input at a time, on its own inputs (input ``i`` of a batch
goes to replica ``i mod k``). Per input, in seconds, from the problem's tables (the family prices a
replica's memory traffic into ``time_s`` and ``energy_j``; ``ddr_period_s`` is what every input moves
through the memory all replicas share):

- one          T = sum_l time[l, c]                                   [one input through one replica]
- period       = max(T / k, ddr_period_s);  throughput = 1 / period  [k replicas at once, the shared memory's floor]
- latency      = max(ceil(b / k) * T, T + (b - 1) * ddr_period_s)    [a batch of b: each replica runs its share in
                                                                       turn; the shared memory serves b inputs]
- energy       = sum_l energy[l, c] + static power * period
Budgets: k times the configuration's usage within each resource's capacity; k at most the problem's
``max_accelerators``.

No term grows with k: period, latency and energy per input are non-increasing in the number of
replicas, so for one configuration the most replicas that fit is best on every objective and every
bound (what :mod:`accelplan.solvers.replicated` uses).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, NamedTuple

from ..plan import Plan, SolverFacts, priced_plan
from . import Metrics, bound_violations
from .form import PlanForm
from .pipeline import PipelineAccelerator, budgets

if TYPE_CHECKING:
    from ..problem import Problem


class ReplicaGroup(NamedTuple):
    """A replicated plan: the configuration of every replica and how many there are."""

    config: int
    replicas: int


Groups = tuple[ReplicaGroup, ...]


def one_input_s(problem: "Problem", config: int) -> float:
    """One input through one replica of ``config`` [s]."""
    return float(problem.time_s[:, config].sum())


def most_replicas(problem: "Problem", config: int) -> int:
    """The most replicas of ``config`` the budgets and the accelerator limit allow (0: not even one)."""
    use, cap = problem.usage[config], problem.capacity * (1 + 1e-9)
    fit = min((int(cap[r] // use[r]) for r in range(len(use)) if use[r] > 0), default=problem.accelerator_slots)
    return max(0, min(fit, problem.accelerator_slots))


def structure_violations(problem: "Problem", groups: Groups) -> list[str]:
    """One group, a configuration of the menu, at least one replica and at most the accelerator limit."""
    if len(groups) != 1:
        return [f"a replicated plan is one configuration replicated, not {len(groups)} groups"]
    (c, k), = groups
    out = []
    if not 0 <= c < problem.n_configs:
        out.append(f"configuration {c} is not in the menu of {problem.n_configs}")
    if k < 1:
        out.append("a replicated plan needs at least one replica")
    if k > problem.accelerator_slots:
        out.append(f"{k} replicas exceed the limit of {problem.accelerator_slots}")
    return out


def metrics(problem: "Problem", groups: Groups, check_bounds: bool = True) -> Metrics:
    """Price ``groups`` (see the module docstring); infinite when the structure is wrong."""
    violations = structure_violations(problem, groups)
    if violations:
        return Metrics(tuple(0.0 for _ in groups), float("inf"), float("inf"), float("inf"), tuple(violations))
    (c, k), = groups
    one = one_input_s(problem, c)
    use = problem.usage[c] * k
    for r, name in enumerate(problem.resources):
        if use[r] > problem.capacity[r] * (1 + 1e-9):
            violations.append(f"{name}: {use[r]:g} used of {problem.capacity[r]:g}")
    period = max(one / k, problem.ddr_period_s)
    b = problem.batch
    latency = max(math.ceil(b / k) * one, one + (b - 1) * problem.ddr_period_s)
    energy = float(problem.energy_j[:, c].sum()) + problem.static_power_w * period
    if check_bounds:
        violations += bound_violations(problem, latency, period)
    return Metrics((one / k,) * k, period, latency, energy, tuple(violations))


def _replica(problem: "Problem", index: int, config: int, replicas: int, period: float) -> PipelineAccelerator:
    cfg = problem.configs[config]
    one = one_input_s(problem, config)
    macs = sum(layer.gemm.macs for layer in problem.layers)
    return PipelineAccelerator(
        index=index, **cfg.plan_fields(), layers=tuple(layer.name for layer in problem.layers),
        ops=tuple(op for layer in problem.layers for op in layer.ops), busy_ms=one * 1e3,
        utilization=one / (replicas * period) if period else 0.0,
        mac_efficiency=macs / (cfg.units * problem.peak_macs_per_unit_s * one) if one else 0.0,
        start_ms=0.0, pace_ms=replicas * period * 1e3,
        gemms=tuple((layer.gemm.m, layer.gemm.k, layer.gemm.n, layer.gemm.count) for layer in problem.layers))


class ReplicatedForm(PlanForm):
    """k identical accelerators, each running the whole model on its own inputs (see the module docstring)."""

    name = "replicated"
    group = ReplicaGroup
    accelerator = PipelineAccelerator  # a replica is a pipeline accelerator that runs every layer
    replay = "accelplan.simulate.replicated:layout"
    streams = True

    def assigns_every_layer_once(self, problem: "Problem", groups: Groups) -> bool:
        """Every replica runs every layer: the plan covers the model when it has one group."""
        return len(groups) == 1

    def slots(self, problem: "Problem") -> int:
        """Replicas are not bounded by the layer count: the accelerator limit alone."""
        return problem.max_accelerators

    metrics = staticmethod(metrics)  # the module's pricing, as the form's

    def plan(self, problem: "Problem", groups: Groups, solver: SolverFacts | None = None,
             check_bounds: bool = True) -> Plan:
        """One accelerator record per replica, each with every layer."""
        met = metrics(problem, groups, check_bounds)
        if met.period_s == float("inf"):
            return priced_plan(problem, met, (), solver)
        (c, k), = groups
        accs = [_replica(problem, i, c, k, met.period_s) for i in range(k)]
        bottleneck = ("the memory the replicas share" if problem.ddr_period_s >= met.period_s * (1 - 1e-12)
                      else "each replica's time per input")
        return priced_plan(problem, met, accs, solver, budgets=budgets(problem, problem.usage[c] * k, met.period_s),
                           bottleneck=bottleneck)

    def plan_groups(self, problem: "Problem", plan: Plan) -> Groups:
        labels = {cfg.label: c for c, cfg in enumerate(problem.configs)}
        if not plan.accelerators:
            raise KeyError("a replicated plan with no replica")
        configs = {a.config for a in plan.accelerators}
        if len(configs) != 1:
            raise KeyError(f"replicas of different configurations: {', '.join(sorted(configs))}")
        return (ReplicaGroup(labels[plan.accelerators[0].config], len(plan.accelerators)),)

    def slots_used(self, groups: Groups) -> int:
        return sum(g.replicas for g in groups)


FORM = ReplicatedForm()
