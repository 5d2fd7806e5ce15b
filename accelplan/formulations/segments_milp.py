"""The MILP of a chiplet package's plan (segments of clusters of consecutive layers), in Pyomo.

Candidate clusters ``k = (i, j, c)`` cover layers ``i..j-1`` with configuration ``c`` (the
execution model limits ``j - i`` and ``c``); their per-input time ``T_k`` and separable cost
``X_k`` come from :func:`accelplan.execution.segments.cluster_costs`. Variables and constraints:

- ``x[k]`` binary: cluster ``k`` is in the plan; the chosen clusters form a path of cut points
  ``0 -> ... -> L`` (one cluster leaves 0, one enters L, flow conserved at every other cut);
- ``s[p]`` binary: a segment ends at cut ``p`` (only where a cluster ends);
- ``u[p]`` in [0, N]: chiplets the open segment holds after the cluster ending at ``p``:
  ``u[j] >= g_c x[k]`` and ``u[j] >= g_c x[k] + u[i] - N (s[i] + 1 - x[k])`` (``u[0] = 0``), so each
  segment fits the package; likewise ``n[p]`` counts a segment's clusters (at most the limit);
- ``m[p]`` >= the slowest cluster of the open segment up to ``p``: ``m[j] >= T_k x[k]`` and
  ``m[j] >= m[i] - M_i (s[i] + 1 - x[k])``; ``z[p] >= m[p] - M_p (1 - s[p])`` charges it where
  the segment ends (``z[L] >= m[L]``); ``M_p``, the slowest candidate cluster ending at ``p``,
  bounds ``m[p]`` (tight big-Ms keep HiGHS's tolerances from blurring the max);
- objective ``sum_k (X_k + w T_k) x[k] + w (b - 1) sum_p z[p] + sum_p start[p] s[p] + start[0] + end``
  (:func:`accelplan.execution.segments.objective_terms`), divided by a reference value so coefficients are O(1).

``m`` and ``z`` only have lower bounds, so at an optimum ``z`` is each segment's slowest cluster.
Latency and throughput bounds cap the batch time (the objective itself for throughput and latency).
The weights' hops from DRAM depend on where a cluster sits (chiplets held before it), which this
model does not track, so it covers the throughput and latency objectives; dp covers energy.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyomo.environ as pyo

from ..problem import Problem
from ..execution.segments import cluster_costs, cluster_tables, objective_terms, segment_rules

#: refuse to build models with more candidate clusters than this (dp solves those)
MAX_CLUSTERS = 60_000


@dataclass
class SegmentMilp:
    """A built model, its candidate clusters and the reference value its objective is divided by."""

    model: pyo.ConcreteModel
    problem: Problem
    clusters: list[tuple[int, int, int]]  # (start, end, configuration)
    reference: float

    def groups(self) -> tuple[tuple[int, tuple[int, ...], int], ...]:
        """The plan in the loaded solution: clusters along the path, numbered by segment."""
        m, n_l = self.model, self.problem.n_layers
        leaving = {}
        for k, (i, j, c) in enumerate(self.clusters):
            if pyo.value(m.x[k]) > 0.5:
                leaving[i] = (j, c)
        out, p, segment = [], 0, 0
        while p < n_l:
            j, c = leaving[p]
            out.append((c, tuple(range(p, j)), segment))
            if j < n_l and pyo.value(m.s[j]) > 0.5:
                segment += 1
            p = j
        return tuple(out)

    def start_values(self, groups) -> None:
        """Set every variable to the plan ``groups`` (a MIP start)."""
        m, t = self.model, self.problem
        index = {k: n for n, k in enumerate(self.clusters)}
        for var in (m.x, m.s):
            for key in var:
                var[key].value = 0
        for var in (m.u, m.m, m.z, m.n):
            for key in var:
                var[key].value = 0.0
        times = self._times()
        ordered = sorted(groups, key=lambda g: g[1][0])
        used = count = slowest = 0.0
        for pos, (c, ls, seg) in enumerate(ordered):
            k = index[(ls[0], ls[-1] + 1, c)]
            m.x[k].value = 1
            used, count = used + t.configs[c].units, count + 1
            slowest = max(slowest, times[k])
            j = ls[-1] + 1
            m.u[j].value, m.n[j].value, m.m[j].value = used, count, slowest
            last = pos + 1 == len(ordered) or ordered[pos + 1][2] != seg
            if last:
                m.z[j].value = slowest
                if j < t.n_layers:
                    m.s[j].value = 1
                used = count = slowest = 0.0

    def _times(self) -> list[float]:
        return [pyo.value(self.model.T[k]) for k in range(len(self.clusters))]

    def to_objective_units(self, value: float) -> float:
        """Model objective -> the batch time (s) it stands for."""
        return value * self.reference


def candidate_clusters(problem: Problem) -> int:
    """How many candidate clusters the model would have."""
    max_len, allowed, _ = segment_rules(problem)
    n = problem.n_layers
    return len(allowed) * sum(min(max_len, n - i) for i in range(n))


def build_segments_milp(problem: Problem, reference: float) -> SegmentMilp:
    """The MILP of the module docstring for an mcm ``problem`` (throughput or latency objective)."""
    n_l, b = problem.n_layers, problem.batch
    chiplets = problem.segments.chiplets
    max_len, allowed, max_clusters = segment_rules(problem)
    terms = objective_terms(problem)
    w = terms.weight
    tables = cluster_tables(problem)
    clusters, times, costs = [], [], []
    for i in range(n_l):
        ends = np.arange(i + 1, min(n_l, i + max_len) + 1)
        for c in allowed:
            t_c, x_c, *_ = cluster_costs(problem, tables, c, i, ends)
            for j, t, x in zip(ends, t_c, x_c):
                clusters.append((i, int(j), c))
                times.append(float(t) / reference)
                costs.append(float(x + w * t) / reference)
    slowest_to = [0.0] * (n_l + 1)  # M_p: the slowest candidate cluster ending at p bounds m[p]
    for (i, j, _), t in zip(clusters, times):
        slowest_to[j] = max(slowest_to[j], t)
    for p in range(1, n_l + 1):  # m carries the open segment's maximum forward
        slowest_to[p] = max(slowest_to[p], slowest_to[p - 1])
    m = pyo.ConcreteModel(name="segments")
    K, P, inner = range(len(clusters)), range(1, n_l + 1), range(1, n_l)
    m.x = pyo.Var(K, domain=pyo.Binary)
    m.s = pyo.Var(inner, domain=pyo.Binary)
    m.u = pyo.Var(P, bounds=(0, chiplets))
    m.n = pyo.Var(P, bounds=(0, max_clusters))
    m.m = pyo.Var(P, bounds=lambda m, p: (0, slowest_to[p]))
    m.z = pyo.Var(P, bounds=lambda m, p: (0, slowest_to[p]))
    m.T = pyo.Param(K, initialize=dict(enumerate(times)))
    into: dict[int, list[int]] = {p: [] for p in range(n_l + 1)}
    out_of: dict[int, list[int]] = {p: [] for p in range(n_l + 1)}
    for k, (i, j, _) in enumerate(clusters):
        out_of[i].append(k)
        into[j].append(k)
    m.leave_start = pyo.Constraint(expr=sum(m.x[k] for k in out_of[0]) == 1)
    m.reach_end = pyo.Constraint(expr=sum(m.x[k] for k in into[n_l]) == 1)
    m.flow = pyo.Constraint(inner, rule=lambda m, p: sum(m.x[k] for k in into[p]) == sum(m.x[k] for k in out_of[p]))
    m.cut_at_cluster_end = pyo.Constraint(inner, rule=lambda m, p: m.s[p] <= sum(m.x[k] for k in into[p]))

    def own(var, size):  # a cluster alone: var[j] >= size when chosen
        return lambda m, k: var[clusters[k][1]] >= size(k) * m.x[k]

    def carry(var, cap, size):  # and on top of what the open segment held at its start i (unless a segment ended at i)
        def rule(m, k):
            i, j, _ = clusters[k]
            if i == 0:
                return pyo.Constraint.Skip
            return var[j] >= size(k) * m.x[k] + var[i] - cap(i) * (m.s[i] + 1 - m.x[k])
        return rule

    units = lambda k: problem.configs[clusters[k][2]].units  # noqa: E731
    m.chiplets = pyo.Constraint(K, rule=own(m.u, units))
    m.carry_chiplets = pyo.Constraint(K, rule=carry(m.u, lambda i: chiplets, units))
    m.clusters_per_segment = pyo.Constraint(K, rule=own(m.n, lambda k: 1))
    m.carry_clusters = pyo.Constraint(K, rule=carry(m.n, lambda i: max_clusters, lambda k: 1))
    m.slowest = pyo.Constraint(K, rule=own(m.m, lambda k: times[k]))
    m.carry_slowest = pyo.Constraint(K, rule=lambda m, k: pyo.Constraint.Skip if clusters[k][0] == 0 else
                                     m.m[clusters[k][1]] >= m.m[clusters[k][0]] - slowest_to[clusters[k][0]]
                                     * (m.s[clusters[k][0]] + 1 - m.x[k]))
    m.close = pyo.Constraint(P, rule=lambda m, p: m.z[p] >= m.m[p] - (0 if p == n_l else slowest_to[p] * (1 - m.s[p])))
    batch = (sum(costs[k] * m.x[k] for k in K) + w * (b - 1) * sum(m.z[p] for p in P)
             + sum(float(terms.start[p]) / reference * m.s[p] for p in inner)
             + (float(terms.start[0]) + terms.end) / reference)
    m.objective = pyo.Objective(expr=batch, sense=pyo.minimize)
    caps = []
    if problem.latency_max_s is not None:
        caps.append(problem.latency_max_s)
    if problem.throughput_min is not None:
        caps.append(b / problem.throughput_min)
    if caps:
        m.batch_time_cap = pyo.Constraint(expr=batch <= min(caps) / reference * (1 + 1e-9))
    return SegmentMilp(m, problem, clusters, reference)
