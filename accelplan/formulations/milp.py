"""Mixed-integer linear program of the hybrid spatial-sequential plan (Pyomo).

Common to every execution model (``a`` accelerator slot, ``c`` configuration):
- ``y[a, c]`` binary: slot ``a`` is built with configuration ``c`` (at most one per slot);
- ``busy[a]`` >= 0: stage time of slot ``a`` [µs]; ``period`` >= busy[a] and >= DDR time per input [µs];
- shared budgets (engines, PLIO in/out, PL buffer): sum over a, c of usage[c] * y[a, c] <= capacity;
- latency = sum_a busy[a] + (batch - 1) * period [µs]; energy = sum_a energy[a] + static power * period;
- valid cuts: period >= sum_l min_c (t[l,c] * units_c) / engines, and sum_a busy[a] >= sum_l min_c t[l,c];
- a stage-time cap ``cap`` (mutable, for target search): busy[a] <= cap, and for the throughput
  objective with a known plan, period <= cap; pairs that cannot meet the cap are left out.

How layers are assigned depends on the execution model (``any_order`` forces the first encoding,
whose LP relaxation bounds every execution model):
- layers in any order, or one slot (hybrid, sequential: metrics depend only on which layers share a slot): layers
  with identical cost rows form a *class* ``k`` of ``count_k`` layers; integer ``n[k, a, c]`` is how
  many of them slot ``a`` runs with configuration ``c`` (``n <= count_k * y[a, c]``), so
  busy[a] = sum_{k,c} t[k,c] n[k,a,c] exactly, and sum_k t[k,c] n[k,a,c] <= cap * y[a,c] ties the work
  to the chosen configuration. Slots are sorted by configuration index, then by stage time, to
  remove symmetry.
- contiguous groups on several slots (spatial: order matters): binary ``x[l, a]``, layer ``l`` on slot ``a``, consecutive layers per
  slot in pipeline order (x[l,a] <= x[l-1,a] + x[l-1,a-1]); the stage time is linearised with the
  smallest valid big-M (``tmin_l`` = the layer's fastest time):
  busy[a] >= sum_l tmin_l x[l,a] + sum_l (t[l,c] - tmin_l) (x[l,a] - 1 + y[a,c])  for all a, c.
Times are scaled to µs and energies to µJ for numerical range.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pyomo.environ as pyo

from ..plan import Groups
from ..problem import Problem
from ..execution.pipeline import busy_cap_s

TIME_SCALE = 1e6  # seconds -> µs
ENERGY_SCALE = 1e6  # joules -> µJ


def layer_classes(problem: Problem) -> list[list[int]]:
    """Layers whose time and energy rows are identical, as lists of layer indices (first-seen order)."""
    rows = np.round(np.hstack([problem.time_s * TIME_SCALE, problem.energy_j * ENERGY_SCALE]), 9)
    _, first, inverse = np.unique(rows, axis=0, return_index=True, return_inverse=True)
    inverse = inverse.reshape(-1)
    order = np.argsort(first)
    classes = [[] for _ in order]
    rank = {int(u): r for r, u in enumerate(order)}
    for layer, u in enumerate(inverse):
        classes[rank[int(u)]].append(layer)
    return classes


def groups_from_counts(classes: list[list[int]], slots: int, config_of: Callable[[int], int | None],
                       count_of: Callable[[int, int, int], int]) -> Groups:
    """Decode a class-count solution: slot ``a`` (configuration ``config_of(a)``, None when unused) runs
    ``count_of(k, a, c)`` layers of class ``k``, taken from the class in layer order."""
    pools = [list(members) for members in classes]
    out = []
    for a in range(slots):
        c = config_of(a)
        if c is None:
            continue
        layers = []
        for k, pool in enumerate(pools):
            take = count_of(k, a, c)
            layers += pool[:take]
            del pool[:take]
        if layers:
            out.append((c, tuple(sorted(layers))))
    return tuple(out)


@dataclass
class MilpModel:
    """A built Pyomo model and how to read a plan and an objective back from it."""

    model: pyo.ConcreteModel
    problem: Problem
    classes: list[list[int]] | None = field(default=None)

    def groups(self) -> Groups:
        """Decode the loaded solution into accelerator groups (configuration, layer indices)."""
        m = self.model

        def config_of(a: int) -> int | None:
            return next((c for c in m.C if pyo.value(m.y[a, c]) > 0.5), None)
        if self.classes is not None:
            return groups_from_counts(self.classes, len(m.A), config_of, lambda k, a, c: int(round(pyo.value(
                m.n[k, a, c]))) if (k, a, c) in m.KAC else 0)
        out = []
        for a in m.A:
            c = config_of(a)
            layers = [l for l in m.L if pyo.value(m.x[l, a]) > 0.5] if c is not None else []
            if layers:
                out.append((c, tuple(layers)))
        return tuple(out)

    def start_values(self, groups: Groups) -> None:
        """Set every variable to the values of a feasible plan (a MIP start); groups sorted by first layer."""
        m, p = self.model, self.problem
        t, e = p.time_s * TIME_SCALE, p.energy_j * ENERGY_SCALE
        if self.classes is not None:  # slots are sorted by configuration index, then stage time, in this encoding
            groups = tuple(sorted(groups, key=lambda g: (-g[0], -float(t[list(g[1]), g[0]].sum()))))
            cls_of = {l: k for k, members in enumerate(self.classes) for l in members}
        for var in m.component_objects(pyo.Var):
            if var is not m.period:
                for idx in var:
                    var[idx].set_value(0)
        busy = []
        for a, (c, layers) in enumerate(groups):
            m.y[a, c].set_value(1)
            for l in layers:
                if self.classes is None:
                    m.x[l, a].set_value(1)
                else:
                    m.n[cls_of[l], a, c].set_value(m.n[cls_of[l], a, c].value + 1)
            busy.append(float(t[list(layers), c].sum()))
            m.busy[a].set_value(busy[-1])
            if hasattr(m, "energy"):
                m.energy[a].set_value(float(e[list(layers), c].sum()))
        m.period.set_value(max(max(busy), p.ddr_period_s * TIME_SCALE))

    def set_target(self, cap_s: float) -> None:
        """Look only for plans whose period is at most ``cap_s`` (not above the cap it was built with)."""
        m, t = self.model, self.problem.time_s * TIME_SCALE
        cap = cap_s * TIME_SCALE * (1 + 1e-7)
        m.cap.set_value(cap)
        if self.classes is not None:
            for k, a, c in m.KAC:
                var = m.n[k, a, c]
                if t[self.classes[k][0], c] > cap:
                    var.fix(0)
                elif var.fixed:
                    var.unfix()

    def to_objective_units(self, value: float) -> float:
        """Model objective (µs or µJ, minimised) -> user units (inferences/s, ms, mJ)."""
        if self.problem.objective == "throughput":
            return TIME_SCALE / value if value > 0 else float("inf")
        return value / 1e3  # µs -> ms, µJ -> mJ


def _assign_by_class(m: pyo.ConcreteModel, p: Problem, t: np.ndarray, e: np.ndarray, busy_cap: float) -> list[list[int]]:
    classes = layer_classes(p)
    count = [len(c) for c in classes]
    rep = [c[0] for c in classes]
    m.K = pyo.RangeSet(0, len(classes) - 1)
    # a class can only run on a configuration fast enough for it to fit under the stage-time cap
    fits = [[c for c in range(p.n_configs) if t[rep[k], c] <= busy_cap] for k in range(len(classes))]
    m.KAC = pyo.Set(dimen=3, initialize=[(k, a, c) for k in m.K for a in m.A for c in fits[k]])
    m.n = pyo.Var(m.KAC, domain=pyo.NonNegativeIntegers, bounds=lambda m, k, a, c: (0, count[k]))
    hosted = {(a, c): [k for k in m.K if (k, a, c) in m.KAC] for a in m.A for c in m.C}

    def work(table, a, c):
        return sum(table[rep[k], c] * m.n[k, a, c] for k in hosted[a, c])
    m.cover = pyo.Constraint(m.K, rule=lambda m, k: sum(m.n[k, a, c] for a in m.A for c in fits[k]) == count[k]
                             if fits[k] else pyo.Constraint.Infeasible)
    m.link = pyo.Constraint(m.KAC, rule=lambda m, k, a, c: m.n[k, a, c] <= count[k] * m.y[a, c])
    m.stage = pyo.Constraint(m.A, rule=lambda m, a: m.busy[a] == sum(work(t, a, c) for c in m.C))
    m.no_empty = pyo.Constraint(m.A, rule=lambda m, a: sum(m.y[a, c] for c in m.C) <= sum(
        m.n[k, a, c] for c in m.C for k in hosted[a, c]))
    m.sorted_slots = pyo.Constraint(
        [a for a in m.A if a + 1 in m.A],
        rule=lambda m, a: sum((c + 1) * m.y[a, c] for c in m.C) >= sum((c + 1) * m.y[a + 1, c] for c in m.C))
    # a slot's work under configuration c is bounded by busy_cap only when c is chosen (tightens y)
    m.work_cap = pyo.Constraint(
        [(a, c) for a in m.A for c in m.C if hosted[a, c]], rule=lambda m, a, c: work(t, a, c) <= m.cap * m.y[a, c])
    # slots with the same configuration are sorted by stage time
    index = {a: sum((c + 1) * m.y[a, c] for c in m.C) for a in m.A}
    m.sorted_ties = pyo.Constraint(
        [a for a in m.A if a + 1 in m.A],
        rule=lambda m, a: m.busy[a] >= m.busy[a + 1] - m.cap * (index[a] - index[a + 1]))
    if e is not None:
        m.energy = pyo.Var(m.A, domain=pyo.NonNegativeReals)
        m.energy_def = pyo.Constraint(m.A, rule=lambda m, a: m.energy[a] == sum(work(e, a, c) for c in m.C))
    return classes


def _assign_by_layer(m: pyo.ConcreteModel, p: Problem, t: np.ndarray, e: np.ndarray, busy_cap: float) -> None:
    m.L = pyo.RangeSet(0, p.n_layers - 1)
    m.x = pyo.Var(m.L, m.A, domain=pyo.Binary)
    m.assign = pyo.Constraint(m.L, rule=lambda m, l: sum(m.x[l, a] for a in m.A) == 1)
    # a layer runs on a slot only if the slot's configuration runs it within the stage-time cap
    m.built = pyo.Constraint(m.L, m.A, rule=lambda m, l, a: m.x[l, a] <= sum(
        m.y[a, c] for c in m.C if t[l, c] <= busy_cap))
    m.no_empty = pyo.Constraint(m.A, rule=lambda m, a: sum(m.y[a, c] for c in m.C) <= sum(m.x[l, a] for l in m.L))

    def linearised(var, table):
        low = table.min(axis=1)
        return lambda m, a, c: var[a] >= sum(
            low[l] * m.x[l, a] + (table[l, c] - low[l]) * (m.x[l, a] - 1 + m.y[a, c]) for l in m.L)
    m.stage = pyo.Constraint(m.A, m.C, rule=linearised(m.busy, t))
    m.first = pyo.Constraint(expr=m.x[0, 0] == 1)
    m.contiguous = pyo.Constraint(
        [(l, a) for l in range(1, p.n_layers) for a in range(len(m.A))],
        rule=lambda m, l, a: m.x[l, a] <= m.x[l - 1, a] + (m.x[l - 1, a - 1] if a > 0 else 0))
    if e is not None:
        m.energy = pyo.Var(m.A, domain=pyo.NonNegativeReals)
        m.energy_def = pyo.Constraint(m.A, m.C, rule=linearised(m.energy, e))


def build_milp(problem: Problem, incumbent_period_s: float | None = None, any_order: bool = False) -> MilpModel:
    """Build the MILP for ``problem`` (execution model, objective and constraints included).

    ``incumbent_period_s``, the period of a known feasible plan, tightens the model for the
    throughput objective without cutting off any plan at least as good. The model keeps the
    stage-time (and, for throughput, period) cap as a mutable parameter for target search
    (:meth:`MilpModel.set_target`).
    """
    p = problem
    t = p.time_s * TIME_SCALE
    cap = busy_cap_s(p, incumbent_period_s) * TIME_SCALE * (1 + 1e-7)
    e = p.energy_j * ENERGY_SCALE if p.objective == "energy" else None
    m = pyo.ConcreteModel(name=f"accelplan-{p.execution}")
    m.A = pyo.RangeSet(0, p.accelerator_slots - 1)
    m.C = pyo.RangeSet(0, p.n_configs - 1)
    m.y = pyo.Var(m.A, m.C, domain=pyo.Binary)
    m.busy = pyo.Var(m.A, domain=pyo.NonNegativeReals)
    m.period = pyo.Var(domain=pyo.NonNegativeReals, bounds=(p.ddr_period_s * TIME_SCALE, None))
    m.one_config = pyo.Constraint(m.A, rule=lambda m, a: sum(m.y[a, c] for c in m.C) <= 1)
    m.period_bound = pyo.Constraint(m.A, rule=lambda m, a: m.busy[a] <= m.period)
    m.cap = pyo.Param(mutable=True, initialize=cap)
    m.busy_cap = pyo.Constraint(m.A, rule=lambda m, a: m.busy[a] <= m.cap)
    if p.objective == "throughput" and incumbent_period_s is not None:
        m.period_cap = pyo.Constraint(expr=m.period <= m.cap)
    share = p.usage / p.capacity[None, :]  # budgets normalised to 1 for numerical range
    m.budget = pyo.Constraint(range(len(p.resources)), rule=lambda m, r: sum(
        float(share[c, r]) * m.y[a, c] for a in m.A for c in m.C) <= 1)

    classes = None
    if p.execution.contiguous and not p.execution.single and not any_order:
        _assign_by_layer(m, p, t, e, cap)
    else:
        classes = _assign_by_class(m, p, t, e, cap)

    units = p.usage[:, 0]  # the first resource counts compute units
    m.area_cut = pyo.Constraint(expr=m.period >= float((t * units[None, :]).min(axis=1).sum()) / float(p.capacity[0]))
    m.work_cut = pyo.Constraint(expr=sum(m.busy[a] for a in m.A) >= float(t.min(axis=1).sum()))

    latency = sum(m.busy[a] for a in m.A) + (p.batch - 1) * m.period
    if p.latency_max_s is not None:
        m.latency_max = pyo.Constraint(expr=latency <= p.latency_max_s * TIME_SCALE)
    if p.throughput_min is not None:
        m.throughput_min = pyo.Constraint(expr=m.period <= TIME_SCALE / p.throughput_min)
    if p.objective == "throughput":
        m.obj = pyo.Objective(expr=m.period, sense=pyo.minimize)
    elif p.objective == "latency":
        m.obj = pyo.Objective(expr=latency, sense=pyo.minimize)
    else:
        static = p.static_power_w * ENERGY_SCALE / TIME_SCALE  # µJ per µs
        m.obj = pyo.Objective(expr=sum(m.energy[a] for a in m.A) + static * m.period, sense=pyo.minimize)
    return MilpModel(m, p, classes)
