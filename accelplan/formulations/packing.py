"""Small MILPs around the configuration LP (:mod:`accelplan.formulations.configuration_lp`), solved by HiGHS.

- :func:`pack`: the accelerators' configurations are fixed (a multiset ``M``); place each class's
  layers on them to minimise the period ``P``:
  ``sum_j n[k, j] = count[k]``; ``sum_k time[k, c_j] n[k, j] <= P``; ``P >= floor`` (the DDR time);
  ``sum_{j,k} time[k, c_j] n[k, j] + (batch - 1) P <= latency bound``; accelerators of the same
  configuration sorted by stage time (symmetry). An accelerator may run nothing (then it is not built).
- :func:`pack_cp`: the same placement by CP-SAT (times in integer picoseconds), whose search finds and
  refutes tight placements on identical accelerators faster than HiGHS.
- :func:`improve`: moves and swaps of single layers that shorten the busiest accelerator's stage.
- :func:`restricted_master`: pick whole patterns (integer ``lambda_p``) among those generated so far,
  minimising the longest stage of a chosen pattern: a quick plan from the columns (price and branch).

Both return class counts per accelerator; :func:`groups_of` turns them into layer groups.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import highspy
import numpy as np

from ..plan import Groups
from .configuration_lp import INF, ClassTable, Pattern


@dataclass(frozen=True)
class Packing:
    """A solver's answer: ``proven`` (optimal, or proven infeasible when ``accelerators`` is None), the best plan
    found (class counts per accelerator), its period [µs], and ``bound_us``: no placement within the cap has a
    shorter period (``inf``: none is within the cap)."""

    proven: bool
    period_us: float | None
    accelerators: tuple[tuple[int, tuple[int, ...]], ...] | None  # (configuration, class counts)
    bound_us: float = -np.inf

    def none_within(self, target_us: float) -> bool:
        """Whether no placement has a period of at most ``target_us`` (a target not above the cap)."""
        return self.bound_us > target_us * (1 + 1e-12)


@dataclass(frozen=True)
class Limits:
    """What every plan must meet: the DDR floor of the period, the period cap, the latency bound [µs], the batch."""

    floor_us: float
    cap_us: float
    latency_us: float | None
    batch: int


def _highs(time_limit_s: float) -> highspy.Highs:
    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    h.setOptionValue("time_limit", max(0.05, time_limit_s))
    h.setOptionValue("mip_rel_gap", 1e-7)
    h.setOptionValue("threads", 1)
    return h


def _col(h: highspy.Highs, cost: float, lo: float, hi: float, integer: bool) -> int:
    h.addCol(cost, lo, hi, 0, np.zeros(0, np.int32), np.zeros(0))
    col = h.getNumCol() - 1
    if integer:
        h.changeColIntegrality(col, highspy.HighsVarType.kInteger)
    return col


def _row(h: highspy.Highs, lo: float, hi: float, terms: dict[int, float]) -> None:
    h.addRow(lo, hi, len(terms), np.array(list(terms), dtype=np.int32), np.array(list(terms.values()), dtype=np.float64))


def _run(h: highspy.Highs) -> tuple[bool, list[float] | None]:
    """Run; (proven: optimal or infeasible, the best solution found or None)."""
    h.run()
    status = h.getModelStatus()
    proven = status in (highspy.HighsModelStatus.kOptimal, highspy.HighsModelStatus.kInfeasible)
    has_solution = status != highspy.HighsModelStatus.kInfeasible and h.getInfo().primal_solution_status == 2
    return proven, list(h.getSolution().col_value) if has_solution else None


def pack(classes: ClassTable, configs: Sequence[int], limits: Limits, time_limit_s: float) -> Packing:
    """The best placement of every class on accelerators of the given configurations (see the module docstring)."""
    h = _highs(time_limit_s)
    t, q = classes.time, classes.count
    period = _col(h, 1.0, limits.floor_us, limits.cap_us, False)
    n = {}
    for j, c in enumerate(configs):
        for k in range(len(q)):
            if t[k, c] <= limits.cap_us * (1 + 1e-12):
                n[k, j] = _col(h, 0.0, 0.0, float(q[k]), True)
    for k in range(len(q)):
        _row(h, float(q[k]), float(q[k]), {n[k, j]: 1.0 for j in range(len(configs)) if (k, j) in n})
    busy = [{n[k, j]: float(t[k, c]) for k in range(len(q)) if (k, j) in n} for j, c in enumerate(configs)]
    for j in range(len(configs)):
        _row(h, -INF, 0.0, {**busy[j], period: -1.0})
        if j + 1 < len(configs) and configs[j + 1] == configs[j]:
            terms = dict(busy[j])
            for col, v in busy[j + 1].items():
                terms[col] = terms.get(col, 0.0) - v
            _row(h, 0.0, INF, terms)
    if limits.latency_us is not None:
        terms = {col: v for b in busy for col, v in b.items()}
        terms[period] = float(limits.batch - 1)
        _row(h, -INF, limits.latency_us, terms)
    proven, x = _run(h)
    if x is None:
        return Packing(proven, None, None, np.inf if proven else -np.inf)
    out = tuple((c, tuple(int(round(x[n[k, j]])) if (k, j) in n else 0 for k in range(len(q))))
                for j, c in enumerate(configs))
    return Packing(proven, float(x[period]), out, float(x[period]) if proven else -np.inf)


def restricted_master(classes: ClassTable, patterns: Sequence[Pattern], share: np.ndarray, slots: int,
                      limits: Limits, time_limit_s: float) -> Packing:
    """Whole patterns (integer counts) covering every class within the budgets, the shortest longest stage first."""
    h = _highs(time_limit_s)
    period = _col(h, 1.0, limits.floor_us, limits.cap_us, False)
    lam = [_col(h, 0.0, 0.0, float(slots), True) for _ in patterns]
    used = [_col(h, 0.0, 0.0, 1.0, True) for _ in patterns]
    for k in range(len(classes.count)):
        _row(h, float(classes.count[k]), INF, {lam[i]: float(p.counts[k]) for i, p in enumerate(patterns) if p.counts[k]})
    for r in range(share.shape[1]):
        _row(h, -INF, 1.0, {lam[i]: float(share[p.config, r]) for i, p in enumerate(patterns)})
    _row(h, -INF, float(slots), {col: 1.0 for col in lam})
    for i, p in enumerate(patterns):
        _row(h, -INF, 0.0, {lam[i]: 1.0, used[i]: -float(slots)})
        _row(h, -INF, 0.0, {used[i]: p.work, period: -1.0})
    if limits.latency_us is not None:
        terms = {lam[i]: p.work for i, p in enumerate(patterns)}
        terms[period] = float(limits.batch - 1)
        _row(h, -INF, limits.latency_us, terms)
    _, x = _run(h)
    if x is None:
        return Packing(False, None, None)
    out = []
    for i, p in enumerate(patterns):
        out += [(p.config, p.counts)] * int(round(x[lam[i]]))
    return Packing(False, float(x[period]), tuple(out))


def pack_cp(classes: ClassTable, configs: Sequence[int], limits: Limits, time_limit_s: float,
            workers: int = 1, enough_us: float | None = None) -> Packing:
    """The shortest period of a placement on accelerators of the given configurations with every stage within
    ``limits.cap_us`` (and the latency bound), by CP-SAT on times in integer picoseconds rounded down. Rounding
    down only admits more placements, so the rounded optimum bounds every placement's period from below
    (``bound_us``; ``inf`` when the model is infeasible); a placement found is returned with its exact period,
    which may by rounding lie a few picoseconds above the rounded one (or the cap: the caller checks). With
    ``enough_us`` the search stops at the first placement whose rounded period is within it (not proven best)."""
    from ortools.sat.python import cp_model

    scale = 1e6  # µs -> ps
    t = np.floor(classes.time * scale).astype(np.int64)
    q = classes.count
    m = cp_model.CpModel()
    n = {(k, j): m.NewIntVar(0, int(q[k]), f"n{k}_{j}") for j, c in enumerate(configs) for k in range(len(q))
         if classes.time[k, c] <= limits.cap_us * (1 + 1e-12)}
    for k in range(len(q)):
        m.Add(sum(n[k, j] for j in range(len(configs)) if (k, j) in n) == int(q[k]))
    cap = int(np.floor(limits.cap_us * scale))
    period = m.NewIntVar(int(np.floor(limits.floor_us * scale)), max(cap, int(np.floor(limits.floor_us * scale))),
                         "period")
    busy = [sum(int(t[k, c]) * n[k, j] for k in range(len(q)) if (k, j) in n) for j, c in enumerate(configs)]
    for j, b in enumerate(busy):
        m.Add(b <= period)
        if j + 1 < len(configs) and configs[j + 1] == configs[j]:
            m.Add(b >= busy[j + 1])
    if limits.latency_us is not None:
        m.Add(sum(busy) + (limits.batch - 1) * period <= int(np.floor(limits.latency_us * scale)))
    m.Minimize(period)
    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = max(0.05, time_limit_s)
    solver.parameters.num_workers = workers
    if enough_us is not None:
        enough = int(np.floor(enough_us * scale))

        class _Enough(cp_model.CpSolverSolutionCallback):
            def on_solution_callback(self) -> None:
                if self.ObjectiveValue() <= enough:
                    self.StopSearch()

        status = solver.Solve(m, _Enough())
    else:
        status = solver.Solve(m)
    if status == cp_model.INFEASIBLE:
        return Packing(True, None, None, np.inf)
    bound = solver.BestObjectiveBound() / scale
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return Packing(False, None, None, bound)
    out = tuple((c, tuple(int(solver.Value(n[k, j])) if (k, j) in n else 0 for k in range(len(q))))
                for j, c in enumerate(configs))
    exact = max(max(float(np.dot(counts, classes.time[:, c])) for c, counts in out), limits.floor_us)
    return Packing(status == cp_model.OPTIMAL, exact, out, bound)


def improve(classes: ClassTable, accelerators: Sequence[tuple[int, Sequence[int]]]) -> tuple[tuple[int, tuple[int, ...]], ...]:
    """Local search on a placement: move one layer off the busiest accelerator, or swap it for a layer of
    another class elsewhere, while that lowers the pair's longer stage; until no such move is left."""
    t = classes.time
    configs = [c for c, _ in accelerators]
    n = np.array([list(counts) for _, counts in accelerators], dtype=int)  # (A, K)
    load = np.array([float(np.dot(n[j], t[:, c])) for j, c in enumerate(configs)])
    improved = True
    while improved:
        improved = False
        i = int(np.argmax(load))
        for a in np.flatnonzero(n[i] > 0):
            for j in range(len(configs)):
                if j == i:
                    continue
                for b in [-1, *np.flatnonzero(n[j] > 0)]:
                    if b == a:
                        continue
                    new_i = load[i] - t[a, configs[i]] + (t[b, configs[i]] if b >= 0 else 0.0)
                    new_j = load[j] + t[a, configs[j]] - (t[b, configs[j]] if b >= 0 else 0.0)
                    if max(new_i, new_j) < load[i] * (1 - 1e-12):
                        n[i, a] -= 1
                        n[j, a] += 1
                        if b >= 0:
                            n[j, b] -= 1
                            n[i, b] += 1
                        load[i], load[j] = new_i, new_j
                        improved = True
                        break
                if improved:
                    break
            if improved:
                break
    return tuple((c, tuple(int(x) for x in n[j])) for j, c in enumerate(configs))


def groups_of(classes: ClassTable, accelerators: Sequence[tuple[int, Sequence[int]]]) -> Groups:
    """Layer groups from class counts per accelerator; counts beyond a class's layers are dropped, empty accelerators left out."""
    pools = [list(m) for m in classes.members]
    out = []
    for c, counts in accelerators:
        layers = []
        for k, take in enumerate(counts):
            layers += pools[k][:take]
            del pools[k][:take]
        if layers:
            out.append((c, tuple(sorted(layers))))
    return tuple(out)
