"""The ``dp`` strategy: exact dynamic programming over cut points, for contiguous plans.

A contiguous plan splits the layer chain into at most ``slots`` consecutive groups, one
accelerator (configuration) each; ``sequential`` (one group) and ``spatial`` plans are contiguous.
Hybrid plans are not, and ``dp`` refuses them rather than answer a different problem.

Throughput objective without a latency bound (the common case), a target search:
- for a target stage time ``T``, a label-setting search walks the chain: from cut point ``i`` an
  accelerator with configuration ``c`` covers the most layers it can within ``T`` (going further
  with the same resources never hurts); labels ``(cut point, resources used)`` that another label
  beats on every count are dropped, so with one resource this is "the fewest units that cover the
  chain" and with several it keeps the Pareto set of resource vectors;
- the optimal period is the stage time of some consecutive group on some configuration, so the
  smallest feasible ``T`` is found by bisection over those distinct values (feasibility is monotone
  in ``T``; after a feasible check the upper end drops to the found plan's own longest stage). The
  bound, on a timeout, is the largest ``T`` proven infeasible;
- budgets that even the largest configurations on every slot cannot exceed are not tracked.

Other objectives, or a latency bound: a label-setting search over every (cut point, configuration)
transition with labels ``(groups, resources, sum of stage times, longest stage, energy)`` - only the
fields the objective and constraints read - keeping the Pareto-minimal labels at each cut point and
dropping labels that a known plan already beats (their partial latency or energy plus the fastest
possible rest), with the fastest contiguous plan as the first known plan (for throughput under a
latency bound it is the optimum whenever it meets the bound). Exact, but the label sets grow with
the chain: tens of layers solve in seconds, BERT-base's 97 do not finish in a minute.
"""

from __future__ import annotations

import time
from dataclasses import replace

import numpy as np

from ..dominance import Timeout as _Timeout
from ..dominance import pareto_min
from ..execution import Form
from ..formulations.milp import busy_cap_s
from ..plan import Groups, Outcome, Plan, evaluate
from ..problem import Problem
from .contiguous import Candidate, best_candidate, best_contiguous
from .segment_dp import solve_segments

def _prefix(problem: Problem, table: np.ndarray) -> np.ndarray:
    return np.vstack([np.zeros(problem.n_configs), np.cumsum(table, axis=0)])


def _reach(prefix: np.ndarray, target: float) -> np.ndarray:
    """``reach[i, c]``: the furthest cut point a configuration-``c`` accelerator starting at ``i`` reaches within ``target``."""
    n1, n_c = prefix.shape
    out = np.empty((n1, n_c), dtype=int)
    slack = target * (1 + 1e-12)
    for c in range(n_c):
        out[:, c] = np.searchsorted(prefix[:, c], prefix[:, c] + slack, side="right") - 1
    return out


def _binding(problem: Problem) -> np.ndarray:
    """Resources that can bind: those where the largest configurations on every slot would exceed the budget."""
    worst = np.sort(problem.usage, axis=0)[::-1][:problem.accelerator_slots].sum(axis=0)
    return worst > problem.capacity * (1 + 1e-9)


def _cover(problem: Problem, prefix: np.ndarray, target: float, deadline: float) -> Groups | None:
    """A contiguous plan with every stage time <= ``target`` within the budgets, or None (exact)."""
    n, slots = problem.n_layers, problem.accelerator_slots
    reach = _reach(prefix, target)
    binding = _binding(problem)  # budgets no plan can exceed need no label column
    usage, cap = problem.usage[:, binding], problem.capacity[binding] * (1 + 1e-9)
    # a level holds labels reached with g groups: position, resources, and (parent label, configuration)
    pos = np.array([0])
    use = np.zeros((1, usage.shape[1]))
    levels = []
    seen_pos = np.empty(0, dtype=int)
    seen_use = np.empty((0, usage.shape[1]))
    for _ in range(slots):
        if time.perf_counter() > deadline:
            raise _Timeout
        new_pos = reach[pos].reshape(-1)  # (labels * C)
        parent = np.repeat(np.arange(len(pos)), problem.n_configs)
        config = np.tile(np.arange(problem.n_configs), len(pos))
        new_use = use[parent] + usage[config]
        ok = (new_pos > pos[parent]) & np.all(new_use <= cap, axis=1)
        new_pos, parent, config, new_use = new_pos[ok], parent[ok], config[ok], new_use[ok]
        if not len(new_pos):
            return None
        levels.append((pos, parent, config, new_pos))
        done = np.flatnonzero(new_pos == n)
        if len(done):
            k = int(done[0])
            groups = []
            for old_pos, par, cfg, npos in reversed(levels):
                groups.append((int(cfg[k]), tuple(range(int(old_pos[par[k]]), int(npos[k])))))
                k = int(par[k])
            return tuple(reversed(groups))
        # keep labels no earlier label (this level or an earlier one, with fewer groups) beats
        keys = np.column_stack([-np.concatenate([seen_pos, new_pos]), np.concatenate([seen_use, new_use])])
        keep = pareto_min(keys, deadline=deadline)
        keep = keep[keep >= len(seen_pos)] - len(seen_pos)
        pos, use = new_pos[keep], new_use[keep]
        levels[-1] = (levels[-1][0], parent[keep], config[keep], pos)
        seen_pos, seen_use = np.concatenate([seen_pos, pos]), np.concatenate([seen_use, use])
    return None


def _stage_times(prefix: np.ndarray, n: int, low: float, high: float) -> np.ndarray:
    """Sorted distinct stage times (any consecutive group on any configuration) in ``(low, high)``."""
    span = prefix[None, :, :] - prefix[:, None, :]
    values = span[np.triu_indices(n + 1, k=1)].reshape(-1)
    return np.unique(values[(values > low) & (values < high)])


def _solve_throughput(problem: Problem, deadline: float) -> tuple[Groups | None, float, bool]:
    """Target search for the smallest period; returns (groups, largest infeasible target [s], finished)."""
    prefix = _prefix(problem, problem.time_s)
    n = problem.n_layers
    cap = busy_cap_s(problem)
    lo = max(float(problem.time_s.min(axis=1).max()), problem.ddr_period_s)  # no plan is faster than this
    lo_proven = 0.0
    best = None
    try:
        best = _cover(problem, prefix, lo, deadline)
        if best is not None:
            return best, lo, True
        lo_proven = lo
        hi = min(cap, float(prefix[n].max()))
        best = _cover(problem, prefix, hi, deadline)
        if best is None:
            return None, hi, True
        # the optimal period is a stage time: bisect over the distinct stage times between the bounds
        hi = max(float(prefix[ls[-1] + 1, c] - prefix[ls[0], c]) for c, ls in best)
        candidates = _stage_times(prefix, n, lo, hi)
        while len(candidates):
            mid = len(candidates) // 2
            found = _cover(problem, prefix, float(candidates[mid]), deadline)
            if found is None:
                lo_proven = float(candidates[mid])
                candidates = candidates[mid + 1:]
            else:
                best = found
                hi = max(float(prefix[ls[-1] + 1, c] - prefix[ls[0], c]) for c, ls in best)
                candidates = candidates[:mid][candidates[:mid] < hi]
        return best, lo_proven, True
    except _Timeout:
        return best, lo_proven, False


def _solve_labels(problem: Problem, deadline: float, incumbent: Plan | None) -> tuple[Groups | None, bool]:
    """Pareto label setting over every transition; exact for every objective and bound. Returns (groups, finished)."""
    p = problem
    n, slots = p.n_layers, p.accelerator_slots
    binding = _binding(p)
    usage, capacity = p.usage[:, binding], p.capacity[binding] * (1 + 1e-9)
    n_r = usage.shape[1]
    t_pre, e_pre = _prefix(p, p.time_s), _prefix(p, p.energy_j)
    stage_cap = busy_cap_s(p) * (1 + 1e-9)
    need_sum = p.objective == "latency" or p.latency_max_s is not None
    need_energy = p.objective == "energy"
    fastest = p.time_s.min(axis=1)
    rest_time = np.concatenate([np.cumsum(fastest[::-1])[::-1], [0.0]])  # fastest rest from cut point j
    rest_stage = np.concatenate([np.maximum.accumulate(fastest[::-1])[::-1], [0.0]])  # a later stage is at least this
    rest_energy = np.concatenate([np.cumsum(p.energy_j.min(axis=1)[::-1])[::-1], [0.0]])
    best_value = incumbent.objective_value() if incumbent is not None else None
    # label columns: groups, resources..., sum of stage times, longest stage, energy
    G, U, S, M, E = 0, slice(1, 1 + n_r), 1 + n_r, 2 + n_r, 3 + n_r
    dims = [G, *range(1, 1 + n_r), M] + ([S] if need_sum else []) + ([E] if need_energy else [])

    def promising(lab: np.ndarray, j: np.ndarray) -> np.ndarray:
        """Labels whose most optimistic completion meets the latency bound and beats the known plan."""
        period = np.maximum(np.maximum(lab[:, M], rest_stage[j]), p.ddr_period_s)
        latency = lab[:, S] + rest_time[j] + (p.batch - 1) * period
        keep = np.ones(len(lab), dtype=bool)
        if p.latency_max_s is not None:
            keep &= latency <= p.latency_max_s * (1 + 1e-9)
        if best_value is not None:
            if p.objective == "throughput":
                keep &= 1.0 / period > best_value * (1 + 1e-12)
            elif p.objective == "latency":
                keep &= latency * 1e3 < best_value * (1 - 1e-12)
            else:
                keep &= (lab[:, E] + rest_energy[j] + p.static_power_w * period) * 1e3 < best_value * (1 - 1e-12)
        return keep

    labels: list[np.ndarray | None] = [None] * (n + 1)
    links: list[np.ndarray | None] = [None] * (n + 1)  # (from cut point, parent row, configuration)
    pending: list[list[tuple[np.ndarray, np.ndarray]]] = [[] for _ in range(n + 1)]
    labels[0] = np.zeros((1, 4 + n_r))
    links[0] = np.full((1, 3), -1)
    cuts = np.arange(n + 1)
    for i in range(n + 1):
        if i > 0:
            if not pending[i]:
                continue
            lab = np.concatenate([x for x, _ in pending[i]])
            lnk = np.concatenate([y for _, y in pending[i]])
            pending[i] = []
            try:
                keep = pareto_min(lab[:, dims], deadline=deadline)
            except _Timeout:
                return None, False
            labels[i], links[i] = lab[keep], lnk[keep]
        if i == n:
            break
        if time.perf_counter() > deadline:
            return None, False
        rows = np.flatnonzero(labels[i][:, G] < slots)
        base = labels[i][rows]
        ends = cuts[i + 1:]
        busy = t_pre[i + 1:] - t_pre[i]  # (ends, C)
        energy = e_pre[i + 1:] - e_pre[i]
        # every (label, configuration, end) transition, as flat arrays
        lab_idx, cfg, end_idx = np.meshgrid(np.arange(len(base)), np.arange(p.n_configs), np.arange(len(ends)), indexing="ij")
        lab_idx, cfg, end_idx = lab_idx.reshape(-1), cfg.reshape(-1), end_idx.reshape(-1)
        stage = busy[end_idx, cfg]
        use = base[lab_idx, U] + usage[cfg]
        ok = (stage <= stage_cap) & np.all(use <= capacity, axis=1)
        lab_idx, cfg, end_idx, stage, use = lab_idx[ok], cfg[ok], end_idx[ok], stage[ok], use[ok]
        new = base[lab_idx].copy()
        new[:, G] += 1
        new[:, U] = use
        new[:, S] += stage
        new[:, M] = np.maximum(new[:, M], stage)
        new[:, E] += energy[end_idx, cfg]
        j = ends[end_idx]
        keep = promising(new, j)
        new, j, link = new[keep], j[keep], np.column_stack([np.full(keep.sum(), i), rows[lab_idx[keep]], cfg[keep]])
        order = np.argsort(j, kind="stable")
        new, j, link = new[order], j[order], link[order]
        starts = np.flatnonzero(np.r_[True, j[1:] != j[:-1]]) if len(j) else []
        for a, b in zip(starts, list(starts[1:]) + [len(j)]):
            pending[int(j[a])].append((new[a:b], link[a:b]))
    if labels[n] is None:
        return None, True

    def walk_back(row: int) -> Groups:
        groups, j, r = [], n, row
        while j > 0:
            i, parent, c = (int(v) for v in links[j][r])
            groups.append((c, tuple(range(i, j))))
            j, r = i, parent
        return tuple(reversed(groups))
    best = best_candidate(p, [walk_back(row) for row in range(len(labels[n]))])
    return (best.groups if best is not None else None), True


def _solve_bounded(problem: Problem, deadline: float, heuristic: Candidate | None) -> tuple:
    """Other objectives or a latency bound: (groups, finished, incumbent) by label setting, started from the
    fastest contiguous plan (for throughput it is the optimum whenever it meets the latency bound)."""
    fastest, _, relaxed_done = _solve_throughput(replace(problem, latency_max_s=None), deadline)
    if fastest is not None:
        heuristic = best_candidate(problem, [g for g in (heuristic.groups if heuristic else None, fastest) if g is not None]) or heuristic
        fast_ok = evaluate(problem, fastest).feasible
        if problem.objective == "throughput" and relaxed_done and fast_ok:
            return fastest, True, heuristic
    groups, finished = _solve_labels(problem, deadline, heuristic.plan if heuristic else None)
    return groups, finished, heuristic


def solve_dp(problem: Problem, time_limit_s: float, seed: int, options: dict) -> Outcome:
    """Exact contiguous plan (pipeline form), or the dp over segment and cluster cut points of
    :mod:`.segment_dp` (segment form). The registry refuses what it does not cover (layers in any order)."""
    if problem.execution.form is Form.SEGMENTS:
        return solve_segments(problem, time_limit_s, seed, options)
    deadline = time.perf_counter() + time_limit_s
    heuristic = best_contiguous(problem)
    bound = None
    if problem.objective == "throughput" and problem.latency_max_s is None:
        groups, infeasible_below, finished = _solve_throughput(problem, deadline)
        bound = 1.0 / infeasible_below if infeasible_below > 0 else None
        how = "target search with Pareto labels on the resources"
    else:
        groups, finished, heuristic = _solve_bounded(problem, deadline, heuristic)
        how = "Pareto label setting over cut points"
    best = best_candidate(problem, [g for g in (groups, heuristic.groups if heuristic else None) if g is not None])
    if best is None:
        return Outcome(None, "infeasible" if finished else "time_limit", note="no contiguous plan" if finished else "")
    return Outcome(best.groups, "optimal" if finished else "time_limit", bound, note=how)
