"""Constraint program of the same plan for OR-Tools CP-SAT (integers only).

CP-SAT takes integer coefficients, so times and energies are scaled to integers of a resolution
chosen per problem: ``time_unit_s`` = the power of ten nearest below 1e-10 of the slowest
single-accelerator latency (all layers on their slowest configuration), likewise
``energy_unit_j``. Rounding each layer's time to that unit changes a stage time by at most
(layers/2) units, far below the evaluator's 1e-9 relative tolerance; the scaled model only chooses
the plan, and every reported metric is recomputed by the shared evaluator.

Variables and constraints mirror :mod:`accelplan.formulations.milp`:
- ``hybrid``/``sequential``: ``y[a, c]`` (slot ``a`` built with configuration ``c``), integer
  ``n[k, a, c]`` (how many layers of cost class ``k`` slot ``a`` runs on ``c``), exact stage times;
  slots sorted by configuration index.
- ``spatial``: cut points ``cut[0] = 0 <= cut[1] <= ... <= cut[S] = layers`` and a configuration
  ``cfg[a]`` per slot (``C`` meaning unused, exactly when the slot is empty; empty slots last); a
  slot's stage time is ``prefix[cut[a+1], cfg[a]] - prefix[cut[a], cfg[a]]`` through two element
  constraints on the flattened prefix-sum table, so the model has O(slots) variables.
Budgets, the stage-time cap, the latency bound, throughput_min and the objective (period, latency
or energy) are the MILP's; the energy objective's static term (static power x period) is the one
non-integer coefficient, which CP-SAT accepts in an objective.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from ortools.sat.python import cp_model

from ..plan import Groups
from ..problem import Problem
from .milp import busy_cap_s, groups_from_counts, layer_classes


def _unit(largest: float) -> float:
    """A power of ten at most 1e-10 of ``largest`` (1 when ``largest`` is 0)."""
    if largest <= 0:
        return 1.0
    return 10.0 ** math.floor(math.log10(largest * 1e-10))


@dataclass
class CpsatModel:
    """A built CP-SAT model, its scaling, and how to read a plan back from a solution."""

    model: cp_model.CpModel
    problem: Problem
    time_unit_s: float
    energy_unit_j: float
    objective_scale: float  # objective in user units = scaled objective * objective_scale (latency, energy)
    vars: dict = field(default_factory=dict)
    classes: list[list[int]] | None = None

    def groups(self, solver: cp_model.CpSolver) -> Groups:
        """Decode a solution into accelerator groups (configuration, layer indices)."""
        p, v = self.problem, self.vars
        out = []
        if self.classes is None:
            cuts = [solver.Value(x) for x in v["cut"]]
            for a, cfg in enumerate(v["cfg"]):
                c = solver.Value(cfg)
                if cuts[a + 1] > cuts[a] and c < p.n_configs:
                    out.append((c, tuple(range(cuts[a], cuts[a + 1]))))
            return tuple(out)
        return groups_from_counts(
            self.classes, p.accelerator_slots,
            lambda a: next((c for c in range(p.n_configs) if solver.Value(v["y"][a, c])), None),
            lambda k, a, c: solver.Value(v["n"][k, a, c]) if (k, a, c) in v["n"] else 0)

    def hint(self, groups: Groups) -> None:
        """Hand a feasible plan to CP-SAT as a solution hint (groups sorted by first layer)."""
        m, p, v = self.model, self.problem, self.vars
        m.ClearHints()
        if self.classes is None:
            for a, x in enumerate(v["cut"][1:-1]):
                cut = groups[a][1][-1] + 1 if a < len(groups) else p.n_layers
                m.AddHint(x, cut)
            for a, cfg in enumerate(v["cfg"]):
                m.AddHint(cfg, groups[a][0] if a < len(groups) else p.n_configs)
            return
        cls_of = {l: k for k, members in enumerate(self.classes) for l in members}
        ordered = sorted(groups, key=lambda g: -g[0])
        counts: dict[tuple[int, int, int], int] = {}
        for a, (c, layers) in enumerate(ordered):
            for l in layers:
                counts[cls_of[l], a, c] = counts.get((cls_of[l], a, c), 0) + 1
        for (a, c), var in v["y"].items():
            m.AddHint(var, int(a < len(ordered) and ordered[a][0] == c))
        for key, var in v["n"].items():
            m.AddHint(var, counts.get(key, 0))

    def to_objective_units(self, value: float) -> float:
        """Scaled objective -> user units (inferences/s, ms, mJ)."""
        if self.problem.objective == "throughput":
            return 1.0 / (value * self.time_unit_s) if value > 0 else float("inf")
        return value * self.objective_scale


def build_cpsat(problem: Problem, incumbent_period_s: float | None = None) -> CpsatModel:
    """Build the CP-SAT model for ``problem``; ``incumbent_period_s`` caps stage times for the throughput objective."""
    p = problem
    largest = float(p.time_s.max(axis=1).sum()) * p.batch
    tu = _unit(largest)
    eu = _unit(float(p.energy_j.max(axis=1).sum()) + p.static_power_w * largest)
    t = np.rint(p.time_s / tu).astype(np.int64)
    e = np.rint(p.energy_j / eu).astype(np.int64)
    cap = int(math.floor(busy_cap_s(p, incumbent_period_s) * (1 + 1e-9) / tu)) + p.n_layers
    horizon = int(t.max(axis=1).sum()) + 1
    m = cp_model.CpModel()
    slots, n_c = p.accelerator_slots, p.n_configs
    usage = np.rint(p.usage).astype(np.int64)
    capacity = np.floor(p.capacity + 1e-9).astype(np.int64)
    busy = [m.NewIntVar(0, min(cap, horizon), f"busy{a}") for a in range(slots)]
    ddr = int(round(p.ddr_period_s / tu))
    period = m.NewIntVar(ddr, max(ddr, min(cap, horizon)), "period")
    for b in busy:
        m.Add(b <= period)
    energy_terms = []
    built = CpsatModel(m, p, tu, eu, 1.0)
    if p.execution.contiguous and not p.execution.single:
        cut = [m.NewConstant(0)] + [m.NewIntVar(0, p.n_layers, f"cut{a}") for a in range(1, slots)] + [m.NewConstant(p.n_layers)]
        cfg = [m.NewIntVar(0, n_c, f"cfg{a}") for a in range(slots)]
        t_pre = np.vstack([np.zeros((1, n_c + 1), dtype=np.int64),
                           np.hstack([np.cumsum(t, axis=0), np.zeros((p.n_layers, 1), dtype=np.int64)])])
        e_pre = np.vstack([np.zeros((1, n_c + 1), dtype=np.int64),
                           np.hstack([np.cumsum(e, axis=0), np.zeros((p.n_layers, 1), dtype=np.int64)])])
        used = [m.NewBoolVar(f"used{a}") for a in range(slots)]
        use_r = {r: [] for r in range(len(p.resources))}
        for a in range(slots):
            m.Add(cut[a] <= cut[a + 1])
            m.Add(cut[a + 1] >= cut[a] + 1).OnlyEnforceIf(used[a])
            m.Add(cut[a + 1] == cut[a]).OnlyEnforceIf(used[a].Not())
            m.Add(cfg[a] < n_c).OnlyEnforceIf(used[a])
            m.Add(cfg[a] == n_c).OnlyEnforceIf(used[a].Not())
            if a + 1 < slots:
                m.AddImplication(used[a + 1], used[a])  # empty slots last
            lo, hi = m.NewIntVar(0, (p.n_layers + 1) * (n_c + 1), ""), m.NewIntVar(0, (p.n_layers + 1) * (n_c + 1), "")
            m.Add(lo == cut[a] * (n_c + 1) + cfg[a])
            m.Add(hi == cut[a + 1] * (n_c + 1) + cfg[a])
            for table, target in ((t_pre, busy[a]), (e_pre, None)):
                flat = [int(x) for x in table.reshape(-1)]
                start, end = m.NewIntVar(0, max(flat), ""), m.NewIntVar(0, max(flat), "")
                m.AddElement(lo, flat, start)
                m.AddElement(hi, flat, end)
                if target is not None:
                    m.Add(target == end - start)
                else:
                    energy_terms.append(end - start)
            for r in range(len(p.resources)):
                col = [int(x) for x in usage[:, r]] + [0]
                var = m.NewIntVar(0, max(col), "")
                m.AddElement(cfg[a], col, var)
                use_r[r].append(var)
        for r, terms in use_r.items():
            m.Add(sum(terms) <= int(capacity[r]))
        built.vars = {"cut": cut, "cfg": cfg, "busy": busy, "period": period}
    else:
        classes = layer_classes(p)
        rep, count = [k[0] for k in classes], [len(k) for k in classes]
        y = {(a, c): m.NewBoolVar(f"y{a}_{c}") for a in range(slots) for c in range(n_c)}
        n = {(k, a, c): m.NewIntVar(0, count[k], f"n{k}_{a}_{c}")
             for k in range(len(classes)) for a in range(slots) for c in range(n_c) if t[rep[k], c] <= cap}
        for a in range(slots):
            m.AddAtMostOne(y[a, c] for c in range(n_c))
            m.Add(busy[a] == sum(int(t[rep[k], c]) * var for (k, aa, c), var in n.items() if aa == a))
            energy_terms += [int(e[rep[k], c]) * var for (k, aa, c), var in n.items() if aa == a]
            if a + 1 < slots:  # slots sorted by configuration index (unused slots last)
                m.Add(sum((c + 1) * y[a, c] for c in range(n_c)) >= sum((c + 1) * y[a + 1, c] for c in range(n_c)))
        for (k, a, c), var in n.items():
            m.Add(var <= count[k] * y[a, c])
        for k in range(len(classes)):
            m.Add(sum(var for (kk, _, _), var in n.items() if kk == k) == count[k])
        for a, c in y:  # a built slot runs something
            m.Add(sum(var for (_, aa, cc), var in n.items() if aa == a and cc == c) >= 1).OnlyEnforceIf(y[a, c])
        for r in range(len(p.resources)):
            m.Add(sum(int(usage[c, r]) * y[a, c] for a, c in y) <= int(capacity[r]))
        built.vars = {"y": y, "n": n, "busy": busy, "period": period}
        built.classes = classes
    # redundant bounds (the MILP's cuts): total work at the fastest configurations, shared by the slots
    work = int(t.min(axis=1).sum())
    m.Add(sum(busy) >= work)
    m.Add(slots * period >= work)
    latency = sum(busy) + (p.batch - 1) * period
    if p.latency_max_s is not None:
        m.Add(latency <= int(math.floor(p.latency_max_s * (1 + 1e-9) / tu)))
    if p.throughput_min is not None:
        m.Add(period <= int(math.floor((1 + 1e-9) / p.throughput_min / tu)))
    if p.objective == "throughput":
        m.Minimize(period)
    elif p.objective == "latency":
        m.Minimize(latency)
        built.objective_scale = tu * 1e3
    else:
        m.Minimize(sum(energy_terms) + (p.static_power_w * tu / eu) * period)  # CP-SAT takes a float objective
        built.objective_scale = eu * 1e3
    return built
