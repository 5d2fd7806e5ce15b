"""Constraint program of the same plan for OR-Tools CP-SAT (integers only).

CP-SAT takes integer coefficients, so times and energies are scaled to integers of a resolution
chosen per problem: ``time_unit_s`` = the power of ten nearest below 1e-10 of the slowest
single-accelerator latency (all layers on their slowest configuration), likewise
``energy_unit_j``. Rounding each layer's time to that unit changes a stage time by at most
(layers/2) units, far below the evaluator's 1e-9 relative tolerance; the scaled model only chooses
the plan, and every reported metric is recomputed by the shared evaluator.

Variables and constraints mirror :mod:`accelplan.formulations.milp`. Every model has a stage time
``busy[a]`` per accelerator slot and a ``period`` at least each of them; how a plan fills the slots
is one of two encodings:
- :class:`ClassCounts` (``hybrid`` and ``sequential``): ``y[a, c]`` (slot ``a`` built with
  configuration ``c``), integer ``n[k, a, c]`` (how many layers of cost class ``k`` slot ``a`` runs
  on ``c``), exact stage times; slots sorted by configuration index.
- :class:`CutPoints` (``spatial``): cut points ``cut[0] = 0 <= cut[1] <= ... <= cut[S] = layers``
  and a configuration ``cfg[a]`` per slot (``C`` meaning unused, exactly when the slot is empty;
  empty slots last); a slot's stage time is ``prefix[cut[a+1], cfg[a]] - prefix[cut[a], cfg[a]]``
  through two element constraints on the flattened prefix-sum table, so the model has O(slots)
  variables.
Budgets, the stage-time cap, the latency bound, throughput_min and the objective (period, latency
or energy) are the MILP's and shared by both encodings; the energy objective's static term (static
power x period) is the one non-integer coefficient, which CP-SAT accepts in an objective.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from ortools.sat.python import cp_model

from ..plan import Groups
from ..problem import Problem
from ..execution.prefix import prefix_sums
from ..execution.pipeline import busy_cap_s
from .milp import groups_from_counts, layer_classes


def _unit(largest: float) -> float:
    """A power of ten at most 1e-10 of ``largest`` (1 when ``largest`` is 0)."""
    if largest <= 0:
        return 1.0
    return 10.0 ** math.floor(math.log10(largest * 1e-10))


@dataclass(frozen=True)
class Scaled:
    """The problem's numbers as CP-SAT integers: times in ``time_unit_s``, energies in ``energy_unit_j``."""

    time_unit_s: float
    energy_unit_j: float
    time: np.ndarray  # [layer, configuration], time units
    energy: np.ndarray  # [layer, configuration], energy units
    usage: np.ndarray  # [configuration, resource]
    capacity: np.ndarray  # [resource]
    stage_cap: int  # no stage of a plan worth finding is longer (time units, rounding slack included)
    horizon: int  # longer than any stage: every layer on its slowest configuration, plus one

    @classmethod
    def of(cls, p: Problem, incumbent_period_s: float | None) -> Scaled:
        largest = float(p.time_s.max(axis=1).sum()) * p.batch
        tu = _unit(largest)
        eu = _unit(float(p.energy_j.max(axis=1).sum()) + p.static_power_w * largest)
        t = np.rint(p.time_s / tu).astype(np.int64)
        return cls(time_unit_s=tu, energy_unit_j=eu, time=t,
                   energy=np.rint(p.energy_j / eu).astype(np.int64),
                   usage=np.rint(p.usage).astype(np.int64),
                   capacity=np.floor(p.capacity + 1e-9).astype(np.int64),
                   stage_cap=int(math.floor(busy_cap_s(p, incumbent_period_s) * (1 + 1e-9) / tu)) + p.n_layers,
                   horizon=int(t.max(axis=1).sum()) + 1)


@dataclass
class Stages:
    """A stage time per slot and the period that bounds them (shared by both encodings)."""

    busy: list[cp_model.IntVar]
    period: cp_model.IntVar

    @classmethod
    def add(cls, m: cp_model.CpModel, p: Problem, s: Scaled) -> Stages:
        stage_ub = min(s.stage_cap, s.horizon)
        busy = [m.NewIntVar(0, stage_ub, f"busy{a}") for a in range(p.accelerator_slots)]
        ddr = int(round(p.ddr_period_s / s.time_unit_s))
        period = m.NewIntVar(ddr, max(ddr, stage_ub), "period")
        for b in busy:
            m.Add(b <= period)
        return cls(busy, period)

    def latency(self, p: Problem):
        """Latency of a batch: every stage once, then one period per further input."""
        return sum(self.busy) + (p.batch - 1) * self.period


@dataclass
class CutPoints:
    """Spatial encoding: consecutive layer groups between cut points, one configuration per slot."""

    problem: Problem
    cut: list[cp_model.IntVar]
    cfg: list[cp_model.IntVar]  # n_configs = unused slot
    energy_terms: list

    @classmethod
    def add(cls, m: cp_model.CpModel, p: Problem, s: Scaled, stages: Stages) -> CutPoints:
        slots, n_c = p.accelerator_slots, p.n_configs
        cut = ([m.NewConstant(0)] + [m.NewIntVar(0, p.n_layers, f"cut{a}") for a in range(1, slots)]
               + [m.NewConstant(p.n_layers)])
        cfg = [m.NewIntVar(0, n_c, f"cfg{a}") for a in range(slots)]
        t_pre, e_pre = _prefix_with_unused(s.time), _prefix_with_unused(s.energy)
        used = [m.NewBoolVar(f"used{a}") for a in range(slots)]
        usage_terms: list[list] = [[] for _ in p.resources]
        energy_terms = []
        for a in range(slots):
            _link_used(m, cut[a], cut[a + 1], cfg[a], used[a], n_c)
            if a + 1 < slots:
                m.AddImplication(used[a + 1], used[a])  # empty slots last
            lo = _flat_index(m, cut[a], cfg[a], p.n_layers, n_c)
            hi = _flat_index(m, cut[a + 1], cfg[a], p.n_layers, n_c)
            m.Add(stages.busy[a] == _span(m, t_pre, lo, hi))
            energy_terms.append(_span(m, e_pre, lo, hi))
            for r, col in enumerate(s.usage.T):
                usage_terms[r].append(_element(m, cfg[a], [int(x) for x in col] + [0]))
        for r, terms in enumerate(usage_terms):
            m.Add(sum(terms) <= int(s.capacity[r]))
        return cls(p, cut, cfg, energy_terms)

    def groups(self, solver: cp_model.CpSolver) -> Groups:
        cuts = [solver.Value(x) for x in self.cut]
        out = []
        for a, cfg in enumerate(self.cfg):
            c = solver.Value(cfg)
            if cuts[a + 1] > cuts[a] and c < self.problem.n_configs:
                out.append((c, tuple(range(cuts[a], cuts[a + 1]))))
        return tuple(out)

    def hint(self, m: cp_model.CpModel, groups: Groups) -> None:
        p = self.problem
        for a, x in enumerate(self.cut[1:-1]):
            m.AddHint(x, groups[a][1][-1] + 1 if a < len(groups) else p.n_layers)
        for a, cfg in enumerate(self.cfg):
            m.AddHint(cfg, groups[a][0] if a < len(groups) else p.n_configs)


def _prefix_with_unused(table: np.ndarray) -> np.ndarray:
    """Prefix sums over layers (row ``i`` = layers before ``i``) plus an all-zero column for an unused slot."""
    return prefix_sums(np.hstack([table, np.zeros((table.shape[0], 1), dtype=table.dtype)]))


def _link_used(m: cp_model.CpModel, start, end, cfg, used, n_c: int) -> None:
    """A slot is used exactly when it holds a layer, and then (only then) has a real configuration."""
    m.Add(start <= end)
    m.Add(end >= start + 1).OnlyEnforceIf(used)
    m.Add(end == start).OnlyEnforceIf(used.Not())
    m.Add(cfg < n_c).OnlyEnforceIf(used)
    m.Add(cfg == n_c).OnlyEnforceIf(used.Not())


def _flat_index(m: cp_model.CpModel, cut, cfg, n_layers: int, n_c: int) -> cp_model.IntVar:
    """Index of (cut point, configuration) in a flattened prefix table with ``n_c + 1`` columns."""
    index = m.NewIntVar(0, (n_layers + 1) * (n_c + 1), "")
    m.Add(index == cut * (n_c + 1) + cfg)
    return index


def _element(m: cp_model.CpModel, index, values: list[int]) -> cp_model.IntVar:
    var = m.NewIntVar(0, max(values), "")
    m.AddElement(index, values, var)
    return var


def _span(m: cp_model.CpModel, prefix: np.ndarray, lo, hi):
    """``prefix[hi] - prefix[lo]`` on the flattened table: a slot's total between its cut points."""
    flat = [int(x) for x in prefix.reshape(-1)]
    start, end = m.NewIntVar(0, max(flat), ""), m.NewIntVar(0, max(flat), "")
    m.AddElement(lo, flat, start)
    m.AddElement(hi, flat, end)
    return end - start


@dataclass
class ClassCounts:
    """Hybrid/sequential encoding: how many layers of each cost class each slot runs, any order."""

    problem: Problem
    classes: list[list[int]]  # layers with identical time and energy rows
    y: dict  # (slot, configuration) -> slot built with it
    n: dict  # (class, slot, configuration) -> layers of the class the slot runs
    energy_terms: list

    @classmethod
    def add(cls, m: cp_model.CpModel, p: Problem, s: Scaled, stages: Stages) -> ClassCounts:
        slots, n_c, t, e = p.accelerator_slots, p.n_configs, s.time, s.energy
        classes = layer_classes(p)
        rep, count = [k[0] for k in classes], [len(k) for k in classes]
        y = {(a, c): m.NewBoolVar(f"y{a}_{c}") for a in range(slots) for c in range(n_c)}
        n = {(k, a, c): m.NewIntVar(0, count[k], f"n{k}_{a}_{c}")
             for k in range(len(classes)) for a in range(slots) for c in range(n_c) if t[rep[k], c] <= s.stage_cap}
        energy_terms = []
        for a in range(slots):
            m.AddAtMostOne(y[a, c] for c in range(n_c))
            on_slot = [(k, c, var) for (k, aa, c), var in n.items() if aa == a]
            m.Add(stages.busy[a] == sum(int(t[rep[k], c]) * var for k, c, var in on_slot))
            energy_terms += [int(e[rep[k], c]) * var for k, c, var in on_slot]
            if a + 1 < slots:  # slots sorted by configuration index (unused slots last)
                m.Add(sum((c + 1) * y[a, c] for c in range(n_c)) >= sum((c + 1) * y[a + 1, c] for c in range(n_c)))
        for (k, a, c), var in n.items():
            m.Add(var <= count[k] * y[a, c])
        for k in range(len(classes)):  # every layer runs somewhere
            m.Add(sum(var for (kk, _, _), var in n.items() if kk == k) == count[k])
        for a, c in y:  # a built slot runs something
            m.Add(sum(var for (_, aa, cc), var in n.items() if aa == a and cc == c) >= 1).OnlyEnforceIf(y[a, c])
        for r in range(len(p.resources)):
            m.Add(sum(int(s.usage[c, r]) * y[a, c] for a, c in y) <= int(s.capacity[r]))
        return cls(p, classes, y, n, energy_terms)

    def groups(self, solver: cp_model.CpSolver) -> Groups:
        p = self.problem
        return groups_from_counts(
            self.classes, p.accelerator_slots,
            lambda a: next((c for c in range(p.n_configs) if solver.Value(self.y[a, c])), None),
            lambda k, a, c: solver.Value(self.n[k, a, c]) if (k, a, c) in self.n else 0)

    def hint(self, m: cp_model.CpModel, groups: Groups) -> None:
        cls_of = {l: k for k, members in enumerate(self.classes) for l in members}
        ordered = sorted(groups, key=lambda g: -g[0])  # the model's slot order: configuration index descending
        counts: dict[tuple[int, int, int], int] = {}
        for a, (c, layers) in enumerate(ordered):
            for l in layers:
                counts[cls_of[l], a, c] = counts.get((cls_of[l], a, c), 0) + 1
        for (a, c), var in self.y.items():
            m.AddHint(var, int(a < len(ordered) and ordered[a][0] == c))
        for key, var in self.n.items():
            m.AddHint(var, counts.get(key, 0))


@dataclass
class CpsatModel:
    """A built CP-SAT model, its scaling, and how to read a plan back from a solution."""

    model: cp_model.CpModel
    problem: Problem
    time_unit_s: float
    energy_unit_j: float
    objective_scale: float  # objective in user units = scaled objective * objective_scale (latency, energy)
    stages: Stages
    encoding: CutPoints | ClassCounts

    def groups(self, solver: cp_model.CpSolver) -> Groups:
        """Decode a solution into accelerator groups (configuration, layer indices)."""
        return self.encoding.groups(solver)

    def hint(self, groups: Groups) -> None:
        """Hand a feasible plan to CP-SAT as a solution hint (groups sorted by first layer)."""
        self.model.ClearHints()
        self.encoding.hint(self.model, groups)

    def to_objective_units(self, value: float) -> float:
        """Scaled objective -> user units (inferences/s, ms, mJ)."""
        if self.problem.objective == "throughput":
            return 1.0 / (value * self.time_unit_s) if value > 0 else float("inf")
        return value * self.objective_scale


def _add_bounds(m: cp_model.CpModel, p: Problem, s: Scaled, stages: Stages) -> None:
    """The MILP's redundant work bounds, then the latency bound and throughput_min."""
    work = int(s.time.min(axis=1).sum())  # total work at the fastest configurations, shared by the slots
    m.Add(sum(stages.busy) >= work)
    m.Add(p.accelerator_slots * stages.period >= work)
    if p.latency_max_s is not None:
        m.Add(stages.latency(p) <= int(math.floor(p.latency_max_s * (1 + 1e-9) / s.time_unit_s)))
    if p.throughput_min is not None:
        m.Add(stages.period <= int(math.floor((1 + 1e-9) / p.throughput_min / s.time_unit_s)))


def _set_objective(m: cp_model.CpModel, p: Problem, s: Scaled, stages: Stages, energy_terms: list) -> float:
    """Minimise the period, latency or energy; returns the scale from scaled objective to ms / mJ (1 for throughput)."""
    if p.objective == "throughput":
        m.Minimize(stages.period)
        return 1.0
    if p.objective == "latency":
        m.Minimize(stages.latency(p))
        return s.time_unit_s * 1e3
    static = p.static_power_w * s.time_unit_s / s.energy_unit_j
    m.Minimize(sum(energy_terms) + static * stages.period)  # CP-SAT takes a float objective
    return s.energy_unit_j * 1e3


def build_cpsat(problem: Problem, incumbent_period_s: float | None = None) -> CpsatModel:
    """Build the CP-SAT model for ``problem``.

    Contiguous groups on several slots (spatial execution) use the :class:`CutPoints` encoding;
    one slot or layers in any order (sequential, hybrid) use :class:`ClassCounts`. Both share
    the integer scaling (:class:`Scaled`), the stage times and period (:class:`Stages`), the bounds
    and the objective. ``incumbent_period_s``, a known plan's period, caps stage times for the
    throughput objective.
    """
    p = problem
    scaled = Scaled.of(p, incumbent_period_s)
    m = cp_model.CpModel()
    stages = Stages.add(m, p, scaled)
    encoding = (CutPoints if p.execution.contiguous and not p.execution.single else ClassCounts).add(m, p, scaled, stages)
    _add_bounds(m, p, scaled, stages)
    objective_scale = _set_objective(m, p, scaled, stages, encoding.energy_terms)
    return CpsatModel(m, p, scaled.time_unit_s, scaled.energy_unit_j, objective_scale, stages, encoding)
