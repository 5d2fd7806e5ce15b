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
- budgets that even the largest configurations on every slot cannot exceed are not tracked;
- a label is dropped when its resources plus the least any ``s`` more accelerators need to cover the
  rest of the chain exceed a budget (each resource on its own: a dp over cut points per target).

Other objectives, or a latency bound: label setting over (cut point, configuration, end) moves with labels
``(groups, resources, sum of stage times, longest stage, energy)`` - only the fields the objective and bounds read
take part in dominance - keeping the Pareto-minimal labels at each cut point. What keeps it small:
- moves: on a run of layers a configuration that another beats (no more of any binding resource, no slower, no
  more energy when energy is read) is dropped, and so is any run whose time over its layers' fastest exceeds the
  slack the latency bound (or, latency objective, the known plan) leaves;
- labels: dropped when what they used plus the least the remaining accelerators need exceeds a budget, or when
  their stage sum plus a lower bound on the rest (each layer's fastest time on a configuration that fits what is
  left; Lagrangian dps pricing the resources, which see the remaining accelerators share them) breaks the bound
  or does not beat the known plan; the Lagrangian dps' own plans are candidates;
- throughput under a latency bound: a target search on the period from the unbounded optimum's (a lower bound;
  its plan is the optimum when it meets the bound), each target capping every stage: bisection on one input,
  ascending ranges of periods on a batch (latency = stage sum + (batch - 1) x period: a range's least stage sum
  plus its shortest period bounds every plan in it, so no longest-stage column is needed);
- latency objective on a batch: branch and bound over the same period ranges, shortest first.
Every dropped move or label has a kept one no worse on every count the objective and bounds read, or no
completion that meets the bounds and beats the known plan, so the search stays exact (tests/test_dp_bounded.py).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from ..dominance import Timeout as _Timeout
from ..dominance import pareto_min
from ..execution.prefix import prefix_sums
from ..execution.pipeline import busy_cap_s
from ..plan import Anytime, Groups, Outcome, Plan, better, evaluate, plan_groups
from ..problem import Problem
from .contiguous import Candidate, best_candidate, best_contiguous

def _reach(prefix: np.ndarray, target: float) -> np.ndarray:
    """``reach[i, c]``: the furthest cut point a configuration-``c`` accelerator starting at ``i`` reaches within ``target``."""
    n1, n_c = prefix.shape
    out = np.empty((n1, n_c), dtype=int)
    slack = target * (1 + 1e-12)
    for c in range(n_c):
        out[:, c] = np.searchsorted(prefix[:, c], prefix[:, c] + slack, side="right") - 1
    return out


def _binding(problem: Problem) -> np.ndarray:
    """Resources that can bind: those where the largest configuration on every slot would exceed the budget
    (a configuration may repeat: two accelerators of one configuration are two slots)."""
    worst = problem.usage.max(axis=0) * problem.accelerator_slots
    return worst > problem.capacity * (1 + 1e-9)


def _least_to_finish(reach: np.ndarray, usage: np.ndarray, slots: int) -> np.ndarray:
    """``need[s, i, r]``: the least of resource ``r`` that covers layers ``i..`` with at most ``s`` more
    accelerators, each resource on its own (inf: impossible); a label whose use plus this exceeds a budget is dropped."""
    n1, n_res = reach.shape[0], usage.shape[1]
    need = np.full((slots + 1, n1, n_res), np.inf)
    need[:, n1 - 1, :] = 0.0
    moves = reach > np.arange(n1)[:, None]  # (i, c): the accelerator covers at least one layer
    for s in range(1, slots + 1):
        after = need[s - 1][reach]  # (i, c, r)
        step = np.where(moves[:, :, None], usage[None, :, :] + after, np.inf).min(axis=1)
        need[s] = np.minimum(need[s - 1], step)
    return need


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
    need = _least_to_finish(reach, usage, slots)
    for level in range(slots):
        if time.perf_counter() > deadline:
            raise _Timeout
        new_pos = reach[pos].reshape(-1)  # (labels * C)
        parent = np.repeat(np.arange(len(pos)), problem.n_configs)
        config = np.tile(np.arange(problem.n_configs), len(pos))
        new_use = use[parent] + usage[config]
        ok = (new_pos > pos[parent]) & np.all(new_use + need[slots - level - 1][new_pos] <= cap, axis=1)
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
    found = []
    for i in range(n):  # row by row: the (layers+1)^2 x configurations table of every span need not exist at once
        span = (prefix[i + 1:] - prefix[i]).reshape(-1)
        found.append(span[(span > low) & (span < high)])
    return np.unique(np.concatenate(found)) if found else np.empty(0)


def _stage_cap_s(problem: Problem, ignore_latency_bound: bool) -> float:
    """:func:`busy_cap_s` without an incumbent; with ``ignore_latency_bound`` the latency bound caps no stage."""
    if not ignore_latency_bound:
        return busy_cap_s(problem)
    caps = [float(problem.time_s.max(axis=1).sum())]
    if problem.throughput_min is not None:
        caps.append(1.0 / problem.throughput_min)
    return min(caps)


def _longest_stage(prefix: np.ndarray, groups: Groups) -> float:
    return max(float(prefix[ls[-1] + 1, c] - prefix[ls[0], c]) for c, ls in groups)


def _solve_throughput(problem: Problem, deadline: float, *, ignore_latency_bound: bool,
                      anytime: Anytime | None = None) -> tuple[Groups | None, float, bool]:
    """Target search for the smallest period; returns (groups, largest infeasible target [s], finished).
    ``anytime`` records the throughput of the best plan and the bound after each target decided.

    Minimises the period whatever ``problem.objective`` says, within the budgets and throughput_min.
    The search never checks the latency bound: pass ``ignore_latency_bound=True`` to say so (the
    fastest plan then is found even when it violates the bound); ``False`` lets the bound cap the
    stage times, which is only exact when the problem has no latency bound.
    """
    prefix = prefix_sums(problem.time_s)
    n = problem.n_layers
    cap = _stage_cap_s(problem, ignore_latency_bound)
    lo = max(float(problem.time_s.min(axis=1).max()), problem.ddr_period_s)  # no plan is faster than this
    lo_proven = 0.0
    best = None

    def note() -> None:
        if anytime is not None:
            period = max(_longest_stage(prefix, best), problem.ddr_period_s) if best is not None else None
            anytime.note(1.0 / period if period else None, 1.0 / lo_proven if lo_proven > 0 else None)

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
        hi = _longest_stage(prefix, best)
        note()
        candidates = _stage_times(prefix, n, lo, hi)
        while len(candidates):
            mid = len(candidates) // 2
            found = _cover(problem, prefix, float(candidates[mid]), deadline)
            if found is None:
                lo_proven = float(candidates[mid])
                candidates = candidates[mid + 1:]
            else:
                best = found
                hi = _longest_stage(prefix, best)
                candidates = candidates[:mid][candidates[:mid] < hi]
            note()
        return best, lo_proven, True
    except _Timeout:
        return best, lo_proven, False


@dataclass(frozen=True)
class LabelColumns:
    """Column layout of a label row: groups so far, resources used, sum of stage times, longest stage, energy."""

    groups: int
    resources: slice
    stage_sum: int
    longest_stage: int
    energy: int
    width: int

    @classmethod
    def for_resources(cls, n_resources: int) -> LabelColumns:
        r = 1 + n_resources
        return cls(groups=0, resources=slice(1, r), stage_sum=r, longest_stage=r + 1, energy=r + 2, width=r + 3)

    def dominance(self, stage_sum: bool, longest: bool, energy: bool) -> list[int]:
        """The columns a label must not exceed to beat another: the ones the objective and bounds read."""
        return ([self.groups, *range(self.resources.start, self.resources.stop)]
                + ([self.longest_stage] if longest else []) + ([self.stage_sum] if stage_sum else [])
                + ([self.energy] if energy else []))


def _pareto_culled(points: np.ndarray, deadline: float, rounds: int = 48) -> np.ndarray:
    """:func:`pareto_min` (one of equal rows kept), after culling: the row with the least normalised sum
    (nothing beats it) drops every row it beats or ties, ``rounds`` times. Label sets where a few labels beat
    tens of thousands lose most rows in O(rows) each round instead of pareto_min's blocks."""
    idx, picked = np.arange(len(points)), []
    if len(points) > 512:  # rows equal but in the last column: the least of it beats the others
        order = np.lexsort(points.T[::-1])
        head = points[order, :-1]
        idx = order[np.r_[True, np.any(head[1:] != head[:-1], axis=1)]]
    if len(idx) > 512:
        span = points.max(axis=0) - points.min(axis=0)
        score = ((points - points.min(axis=0)) / np.where(span > 0, span, 1.0)).sum(axis=1)
        for _ in range(rounds):
            if len(idx) <= 512:
                break
            k = int(np.argmin(score[idx]))
            picked.append(idx[k])
            idx = idx[~np.all(points[idx[k]] <= points[idx], axis=1)]  # the pick, its equals and what it beats
        idx = np.concatenate([np.array(picked, dtype=int), idx])
    return idx[pareto_min(points[idx], deadline=deadline)]


class _Moves:
    """Per cut point ``i`` the accelerators worth starting there: (end cut point, configuration, stage time, energy).

    On a run of layers ``i..j-1`` a configuration is dropped when another takes no more of any binding resource and
    is no slower on the run (and, when energy is read, spends no more on it), strictly better somewhere or the lower
    index among equals: any plan using the dropped one is matched, at no worse value and within every bound, by the
    plan using the other (budgets, stage times, the latency and the energy are all monotone in these). Computed once
    per problem; a target keeps the moves whose stage time meets it (kept ones dominate dropped ones there too)."""

    def __init__(self, problem: Problem, usage: np.ndarray, stage_cap: float, energy: bool, deadline: float,
                 slack: float = np.inf):
        n = problem.n_layers
        t_pre, e_pre = prefix_sums(problem.time_s), prefix_sums(problem.energy_j)
        f_pre = prefix_sums(problem.time_s.min(axis=1))
        no_more = np.all(usage[:, None, :] <= usage[None, :, :], axis=2)  # (a, b): a takes no more than b
        np.fill_diagonal(no_more, False)
        b_idx, a_idx = np.nonzero(no_more.T)  # pairs (a beats b when ...), sorted by b
        tie = ~np.all(usage[a_idx] == usage[b_idx], axis=1) | (a_idx < b_idx)  # a beats b on equal times
        self.end: list[np.ndarray] = []
        self.cfg: list[np.ndarray] = []
        self.stage: list[np.ndarray] = []
        self.energy: list[np.ndarray] = []
        for i in range(n):
            if time.perf_counter() > deadline:
                raise _Timeout
            span = t_pre[i + 1:] - t_pre[i]  # (ends, C)
            spend = e_pre[i + 1:] - e_pre[i]
            # a run's time over its layers' fastest times is part of the plan's: at most the slack
            ok = (span <= stage_cap) & (span - (f_pre[i + 1:] - f_pre[i])[:, None] <= slack)
            rows = np.flatnonzero(ok.any(axis=1))
            span, spend, ok = span[rows], spend[rows], ok[rows]
            live = ok.any(axis=0)
            pair = np.flatnonzero(live[a_idx] & live[b_idx])  # a configuration that beats a kept one is kept too
            if len(pair) and len(rows):
                pa, pb, pt = a_idx[pair], b_idx[pair], tie[pair]
                sa, sb = span[:, pa], span[:, pb]
                beats = (sa < sb) | ((sa == sb) & pt)
                if energy:
                    ea, eb = spend[:, pa], spend[:, pb]
                    beats = (sa <= sb) & (ea <= eb) & ((sa < sb) | (ea < eb) | pt)
                first = np.flatnonzero(np.r_[True, pb[1:] != pb[:-1]])
                ok[:, pb[first]] &= ~np.logical_or.reduceat(beats, first, axis=1)
            e_rel, cfg = np.nonzero(ok)
            self.end.append(i + 1 + rows[e_rel])
            self.cfg.append(cfg)
            self.stage.append(span[e_rel, cfg])
            self.energy.append(spend[e_rel, cfg])

    def count(self) -> int:
        return int(sum(len(x) for x in self.cfg))


class _LabelSearch:
    """Pareto label setting over cut points, for one stage-time target (``None``: only the problem's own cap).

    A label ``(groups, resources, sum of stage times, longest stage, energy)`` at a cut point is a plan of the layers
    before it; only the columns the objective and bounds read take part in dominance (the longest stage counts
    as at least the DDR period, the period's floor). A label is dropped when its most optimistic completion breaks
    a bound or does not beat the known plan:
    - resources: what it used plus the least any of its remaining accelerators need to cover the rest within the
      target (each resource on its own) exceeds a budget;
    - time: the rest of the chain takes at least, for each binding resource, the sum of each remaining layer's
      fastest time on a configuration that fits in what is left of that resource (and meets the target); the
      latency is its stage sum plus that plus (batch - 1) x the least possible period.
    Every dropped label has no completion better than (or, under a bound, as good as) what is kept, so the
    search stays exact."""

    def __init__(self, problem: Problem, moves: _Moves, usage: np.ndarray, capacity: np.ndarray,
                 target: float | None, best_value: float | None, period_floor: float | None = None):
        p = self.problem = problem
        self.moves, self.usage, self.capacity = moves, usage, capacity
        self.cols = LabelColumns.for_resources(usage.shape[1])
        reads_latency = p.objective == "latency" or p.latency_max_s is not None
        reads_period = ((p.batch > 1 and reads_latency) or (p.objective == "energy" and p.static_power_w > 0)
                        or (p.objective == "throughput" and target is None)) and period_floor is None
        # with a period floor (latency objective over a range of periods) bounds read the floor, not the labels
        self.period_floor = period_floor
        self.dims = self.cols.dominance(stage_sum=reads_latency, longest=reads_period, energy=p.objective == "energy")
        self.cap = busy_cap_s(p) * (1 + 1e-9)
        if target is not None:
            self.cap = min(self.cap, target * (1 + 1e-12))
        self.target = target
        self.best_value = best_value
        self.dropped = 0  # labels the rest-time bounds dropped (tests read it)
        time_s = np.where(p.time_s <= self.cap, p.time_s, np.inf)
        fastest = time_s.min(axis=1)
        self.rest_time = np.concatenate([np.cumsum(fastest[::-1])[::-1], [0.0]])
        self.rest_stage = np.concatenate([np.maximum.accumulate(fastest[::-1])[::-1], [0.0]])
        self.rest_energy = np.concatenate([np.cumsum(p.energy_j.min(axis=1)[::-1])[::-1], [0.0]])
        # per binding resource: the levels its configurations take, and the rest's time with configurations within each
        self.levels, self.rest_within = [], []
        for r in range(usage.shape[1]):
            order = np.argsort(usage[:, r], kind="stable")
            levels = np.unique(usage[:, r])
            upto = np.searchsorted(usage[order, r], levels, side="right") - 1  # last sorted config of each level
            best = np.minimum.accumulate(time_s[:, order], axis=1)[:, upto]  # (layers, levels)
            rest = np.vstack([np.cumsum(best[::-1], axis=0)[::-1], np.zeros((1, len(levels)))])
            self.levels.append(levels)
            self.rest_within.append(rest)
        prefix = prefix_sums(p.time_s)
        self.need = _least_to_finish(_reach(prefix, self.cap / (1 + 1e-12)), usage, p.accelerator_slots)
        self._lagrangian()

    def _lagrangian(self) -> None:
        """Lower bounds on the rest's time that see the remaining accelerators share what is left: for a price
        ``lam`` per unit of a weighted resource ``w``, ``LB[s, j]`` is the least sum of (stage time + lam x w) over
        at most ``s`` accelerators covering layers ``j..`` within the target (a dp over the moves); any completion
        within the budgets left takes at least ``LB[s, j] - lam x w(left)``."""
        p, m = self.problem, self.moves
        n, slots = p.n_layers, p.accelerator_slots
        start = np.concatenate([np.full(len(e), i) for i, e in enumerate(m.end)])
        end, cfg, stage = np.concatenate(m.end), np.concatenate(m.cfg), np.concatenate(m.stage)
        ok = stage <= self.cap
        start, end, cfg, stage = start[ok], end[ok], cfg[ok], stage[ok]
        bounds = np.flatnonzero(np.r_[True, start[1:] != start[:-1]]) if len(start) else np.empty(0, dtype=int)
        firsts = start[bounds]
        share = self.usage / np.maximum(self.capacity, 1e-300)[None, :]  # (C, binding resources)
        alphas = [np.eye(share.shape[1])[r] for r in range(share.shape[1])] + [np.ones(share.shape[1])]
        scale = float(self.rest_time[0]) if np.isfinite(self.rest_time[0]) else 1.0
        self.lag = []  # (alpha over resources, lam, LB table)
        self.paths: list[Groups] = []  # each price's cheapest plan (a candidate when it fits the budgets)
        for alpha in alphas if share.shape[1] else []:
            w = share @ alpha
            for lam in scale * np.array([0.1, 0.3, 1.0]):
                cost = stage + lam * w[cfg]
                lb = np.full((slots + 1, n + 1), np.inf)
                arg = np.full((slots + 1, n + 1), -1)
                lb[:, n] = 0.0
                for s in range(1, slots + 1):
                    lb[s], arg[s] = lb[s - 1], arg[s - 1]
                    if len(cost):
                        total = cost + lb[s - 1][end]
                        best = np.minimum.reduceat(total, bounds)
                        better = best < lb[s, firsts]
                        lb[s, firsts[better]] = best[better]
                        # the move achieving it: the first whose total equals its start's minimum
                        hit = np.flatnonzero(total <= lb[s, start])
                        first_hit = hit[np.r_[True, start[hit][1:] != start[hit][:-1]]] if len(hit) else hit
                        for_start = np.full(n + 1, -1)
                        for_start[start[first_hit]] = first_hit
                        arg[s, firsts[better]] = for_start[firsts[better]]
                self.lag.append((alpha / np.maximum(self.capacity, 1e-300), lam, lb))
                if np.isfinite(lb[slots, 0]):
                    self.paths.append(self._path(arg, slots, start, end, cfg))

    @staticmethod
    def _path(arg: np.ndarray, slots: int, start: np.ndarray, end: np.ndarray, cfg: np.ndarray) -> Groups:
        """The plan a Lagrangian dp's choices trace from cut point 0 with ``slots`` accelerators."""
        groups, j, s, n = [], 0, slots, arg.shape[1] - 1
        while j < n and s > 0:
            k = int(arg[s, j])
            if k < 0:
                break
            groups.append((int(cfg[k]), tuple(range(int(start[k]), int(end[k])))))
            j, s = int(end[k]), s - 1
        return tuple(groups)

    def start(self) -> tuple[np.ndarray, np.ndarray]:
        """The empty label at cut point 0, and its link (no parent)."""
        return np.zeros((1, self.cols.width)), np.full((1, 3), -1)

    def _rest_bounds(self):
        """Lower bounds on the time the rest of the chain from ``j`` takes given what a label has left, cheapest
        first: each one a function of (labels, cut points, resources left, accelerators left)."""
        n = self.problem.n_layers
        yield lambda lab, j, left, slots: self.rest_time[j]
        for r, (levels, table) in enumerate(zip(self.levels, self.rest_within)):
            def within(lab, j, left, slots, r=r, levels=levels, table=table):
                k = np.searchsorted(levels, left[:, r], side="right") - 1
                return np.where(j == n, 0.0, np.where(k >= 0, table[j, np.maximum(k, 0)], np.inf))
            yield within
        for per_unit, lam, lb in self.lag:
            yield lambda lab, j, left, slots, per_unit=per_unit, lam=lam, lb=lb: lb[slots, j] - lam * (left @ per_unit)

    def promising(self, lab: np.ndarray, j: np.ndarray) -> np.ndarray:
        """Labels whose most optimistic completion fits the budgets, meets the latency bound and beats the known plan."""
        p, col = self.problem, self.cols
        slots = p.accelerator_slots - lab[:, col.groups].astype(int)
        keep = np.all(lab[:, col.resources] + self.need[slots, j] <= self.capacity, axis=1)
        period = np.maximum(np.maximum(lab[:, col.longest_stage], self.rest_stage[j]), p.ddr_period_s)
        if self.period_floor is not None:
            period = np.full(len(lab), max(self.period_floor, float(self.rest_stage[0]), p.ddr_period_s))
        if self.best_value is not None:
            if p.objective == "throughput":
                keep &= 1.0 / period > self.best_value * (1 + 1e-12)
            elif p.objective == "energy":
                energy = lab[:, col.energy] + self.rest_energy[j] + p.static_power_w * period
                keep &= energy * 1e3 < self.best_value * (1 - 1e-12)
        # the time the rest may take: within the latency bound, and (latency objective) under the known plan's
        base = lab[:, col.stage_sum] + (p.batch - 1) * period
        at_most = p.latency_max_s * (1 + 1e-9) - base if p.latency_max_s is not None else None
        below = (self.best_value * 1e-3 * (1 - 1e-12) - base
                 if self.best_value is not None and p.objective == "latency" else None)
        if at_most is None and below is None:
            return keep
        idx = np.flatnonzero(keep)
        for bound in self._rest_bounds():  # each on the labels the earlier ones kept
            if not len(idx):
                break
            rest = bound(lab[idx], j[idx], self.capacity[None, :] - lab[idx][:, col.resources], slots[idx])
            ok = np.ones(len(idx), dtype=bool)
            if at_most is not None:
                ok &= rest <= at_most[idx]
            if below is not None:
                ok &= rest < below[idx]
            idx = idx[ok]
            self.dropped += int((~ok).sum())
        keep = np.zeros(len(lab), dtype=bool)
        keep[idx] = True
        return keep

    def expand(self, i: int, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Every promising move from cut point ``i``: (new labels, their cut points, links)."""
        p, col, m = self.problem, self.cols, self.moves
        rows = np.flatnonzero(labels[:, col.groups] < p.accelerator_slots)
        ok = m.stage[i] <= self.cap
        end, cfg, stage, energy = m.end[i][ok], m.cfg[i][ok], m.stage[i][ok], m.energy[i][ok]
        lab_idx = np.repeat(rows, len(cfg))
        mv = np.tile(np.arange(len(cfg)), len(rows))
        use = labels[lab_idx, col.resources] + self.usage[cfg[mv]]
        fits = np.all(use <= self.capacity, axis=1)
        lab_idx, mv, use = lab_idx[fits], mv[fits], use[fits]
        new = labels[lab_idx].copy()
        new[:, col.groups] += 1
        new[:, col.resources] = use
        new[:, col.stage_sum] += stage[mv]
        new[:, col.longest_stage] = np.maximum(new[:, col.longest_stage], np.maximum(stage[mv], p.ddr_period_s))
        new[:, col.energy] += energy[mv]
        j = end[mv]
        keep = self.promising(new, j)
        link = np.column_stack([np.full(keep.sum(), i), lab_idx[keep], cfg[mv][keep]])
        return new[keep], j[keep], link

    def merge(self, pending: list[tuple[np.ndarray, np.ndarray]], deadline: float) -> tuple[np.ndarray, np.ndarray]:
        """The Pareto-minimal labels (and their links) among those that reached one cut point."""
        lab = np.concatenate([x for x, _ in pending])
        lnk = np.concatenate([y for _, y in pending])
        keep = _pareto_culled(lab[:, self.dims], deadline)
        return lab[keep], lnk[keep]

    def values(self, lab: np.ndarray) -> np.ndarray:
        """Complete labels' objective values as the evaluator computes them, smaller is better (throughput: the period)."""
        p, col = self.problem, self.cols
        period = np.maximum(lab[:, col.longest_stage], p.ddr_period_s)
        if self.period_floor is not None:  # a range of periods: the least latency first (the bound decides)
            return lab[:, col.stage_sum] + (p.batch - 1) * period
        if p.objective == "throughput":
            return period + 1e-12 * lab[:, col.stage_sum]
        if p.objective == "latency":
            return lab[:, col.stage_sum] + (p.batch - 1) * period
        return lab[:, col.energy] + p.static_power_w * period


def _file_by_cut_point(pending: list[list[tuple[np.ndarray, np.ndarray]]], new: np.ndarray, j: np.ndarray,
                       link: np.ndarray) -> None:
    """Append each run of labels that end at the same cut point to that cut point's pending list."""
    order = np.argsort(j, kind="stable")
    new, j, link = new[order], j[order], link[order]
    starts = np.flatnonzero(np.r_[True, j[1:] != j[:-1]]) if len(j) else []
    for a, b in zip(starts, list(starts[1:]) + [len(j)]):
        pending[int(j[a])].append((new[a:b], link[a:b]))


def _walk_back(links: list[np.ndarray | None], n: int, row: int) -> Groups:
    """The plan of label ``row`` at the last cut point, from its links (from cut point, parent row, configuration)."""
    groups, j, r = [], n, row
    while j > 0:
        i, parent, c = (int(v) for v in links[j][r])
        groups.append((c, tuple(range(i, j))))
        j, r = i, parent
    return tuple(reversed(groups))


class _Bounded:
    """What every label search of one problem shares: the binding budgets and the moves (built once)."""

    def __init__(self, problem: Problem, deadline: float, incumbent: Plan | None = None, least_period: float = 0.0):
        self.problem = p = problem
        binding = _binding(problem)  # budgets no plan can exceed need no label column
        self.usage, self.capacity = problem.usage[:, binding], problem.capacity[binding] * (1 + 1e-9)
        # the most a plan worth finding may spend over every layer's fastest time: its latency is the stage sum
        # plus (batch - 1) periods, within the bound and (latency objective) below the known plan
        fastest = p.time_s.min(axis=1)
        floor = float(fastest.sum()) + (p.batch - 1) * max(float(fastest.max()), p.ddr_period_s, least_period)
        slack = np.inf
        if p.latency_max_s is not None:
            slack = p.latency_max_s * (1 + 1e-9) - floor
        if p.objective == "latency" and incumbent is not None:
            slack = min(slack, incumbent.latency_ms * 1e-3 - floor)
        slack += 1e-12 * floor  # rounding of prefix sums
        self.moves = _Moves(problem, self.usage, busy_cap_s(problem) * (1 + 1e-9), problem.objective == "energy",
                            deadline, slack)
        self.dropped = 0  # labels the rest-time bounds dropped, over every search (tests read it)

    def solve(self, deadline: float, target: float | None, incumbent: Plan | None,
              period_floor: float | None = None) -> Groups | None:
        """The best plan the label search finds with every stage within ``target`` (None: none; raises on timeout);
        throughput: any plan within the target and bounds. ``period_floor``: only plans whose period is at least
        this are sought (bounds read it instead of the labels' longest stage). Sets ``least_sum``, the least stage
        sum of any complete label (a lower bound on the stage sum of such plans better than the incumbent)."""
        p, n = self.problem, self.problem.n_layers
        search = _LabelSearch(p, self.moves, self.usage, self.capacity, target, None, period_floor)
        self.least_sum = np.inf
        # the Lagrangian dps' plans: under a target any one that fits answers; otherwise they may improve the incumbent
        priced = [plan for plan in (evaluate(p, g) for g in search.paths if g) if plan.feasible]
        if p.objective == "throughput":
            fits = [plan for plan in priced if target is not None and plan.period_ms <= target * 1e3 * (1 + 1e-9)]
            if fits and period_floor is None:  # (over a range of periods the least one is sought: no shortcut)
                return plan_groups(p, fits[0])
        elif priced or incumbent is not None:
            for plan in priced:
                if incumbent is None or better(p.objective, plan.objective_value(), incumbent.objective_value()):
                    incumbent = plan
            search.best_value = incumbent.objective_value()
            if p.objective == "latency" and p.batch > 1:  # a better plan's period: (latency - the chain) / (batch - 1)
                search.cap = min(search.cap, (search.best_value * 1e-3 - float(search.rest_time[0])) / (p.batch - 1)
                                 * (1 + 1e-9))
        self.incumbent = incumbent
        labels: list[np.ndarray | None] = [None] * (n + 1)
        links: list[np.ndarray | None] = [None] * (n + 1)  # (from cut point, parent row, configuration)
        pending: list[list[tuple[np.ndarray, np.ndarray]]] = [[] for _ in range(n + 1)]
        labels[0], links[0] = search.start()
        for i in range(n + 1):
            if i > 0:
                if not pending[i]:
                    continue
                labels[i], links[i] = search.merge(pending[i], deadline)
                pending[i] = []
            if i == n:
                break
            if time.perf_counter() > deadline:
                raise _Timeout
            _file_by_cut_point(pending, *search.expand(i, labels[i]))
        self.dropped += search.dropped
        if labels[n] is None:
            return None
        self.least_sum = float(labels[n][:, search.cols.stage_sum].min())
        order = np.argsort(search.values(labels[n]), kind="stable")[:8]  # the evaluator has the last word
        best = best_candidate(p, [_walk_back(links, n, int(row)) for row in order])
        return best.groups if best is not None else None


def _single_accelerator(problem: Problem) -> Groups | None:
    """The best feasible one-accelerator plan (every layer on one configuration), or None."""
    fits = np.all(problem.usage <= problem.capacity * (1 + 1e-9), axis=1)
    total = problem.time_s.sum(axis=0)
    order = [int(c) for c in np.argsort(np.where(fits, total, np.inf))[:4] if fits[c]]
    best = best_candidate(problem, [((c, tuple(range(problem.n_layers))),) for c in order])
    return best.groups if best is not None else None


def _first_in_ranges(problem: Problem, shared: _Bounded, deadline: float, cands: np.ndarray) -> Groups | None:
    """Throughput under a latency bound on a batch: the plan of the shortest period among ``cands`` (ascending
    stage times, the first at most the shortest possible period) that meets the bound, or None.

    Ranges of periods in ascending order, doubling in length; for a range ``[T_a, T_b]`` the label search with every
    stage within ``T_b`` and bounds reading ``T_a`` (no longest-stage column) gives the least stage sum ``H`` of its
    plans within the bound, so none meets it when ``H + (batch - 1) x T_a`` exceeds it; otherwise the range is
    halved, the lower half first, down to one period, whose least-latency plan meets the bound when any does
    (any with a shorter period lies in a range already ruled out)."""
    p = problem
    bound = p.latency_max_s * (1 + 1e-9)
    chain = float(p.time_s.min(axis=1).sum())

    def first(a: int, b: int, h: float) -> Groups | None:
        if h + (p.batch - 1) * cands[a] > bound:
            return None
        groups = shared.solve(deadline, float(cands[b]), None, period_floor=float(cands[a]))
        if a == b or not np.isfinite(shared.least_sum):
            if groups is not None and evaluate(p, groups).feasible:
                return groups
            return None
        h = max(h, shared.least_sum)
        m = (a + b) // 2
        return first(a, m, h) or first(m + 1, b, h)

    a = 0
    while a < len(cands):
        b = min(2 * a, len(cands) - 1)
        found = first(a, b, chain)
        if found is not None:
            return found
        a = b + 1
    return None


def _solve_bounded_throughput(problem: Problem, deadline: float, heuristic: Candidate | None,
                              anytime: Anytime) -> tuple[Groups | None, float | None, bool]:
    """Throughput under a latency bound, a target search: (groups, bound [inferences/s], finished).

    The period without the bound (its own target search) is a lower bound, and its plan the optimum when it meets
    the latency bound. Otherwise the smallest target ``T`` (a stage time, or that period) for which a plan with
    every stage within ``T`` meets the budgets and the latency bound is found by bisection; feasibility is
    monotone in ``T`` (a plan meeting ``T`` meets any larger one) and each check is the label search with the
    target capping every stage. The first known plan is the best of the unbounded plan, the heuristic's and the
    one-accelerator plans, filtered by the bound."""
    prefix = prefix_sums(problem.time_s)
    fastest, _, relaxed_done = _solve_throughput(problem, deadline, ignore_latency_bound=True)
    if fastest is not None and relaxed_done and evaluate(problem, fastest).feasible:
        return fastest, None, True
    if fastest is None and relaxed_done:
        return None, None, True  # no plan even without the latency bound
    known = [g for g in (heuristic.groups if heuristic else None, fastest, _single_accelerator(problem)) if g is not None]
    found = best_candidate(problem, known)
    best = found.groups if found is not None else None
    lo = max(float(problem.time_s.min(axis=1).max()), problem.ddr_period_s)
    if relaxed_done:  # the unbounded optimum's period: no plan under the bound is faster
        lo = max(lo, _longest_stage(prefix, fastest), problem.ddr_period_s)
    proven = lo * (1 - 1e-12)  # every target below is infeasible
    note = lambda: anytime.note(evaluate(problem, best).throughput if best is not None else None,  # noqa: E731
                                1.0 / proven)
    # no plan within the bound has a longer period than this: the batch's other inputs wait (batch - 1) periods
    cap = busy_cap_s(problem)
    if problem.batch > 1:
        cap = min(cap, (problem.latency_max_s - float(problem.time_s.min(axis=1).sum())) / (problem.batch - 1))
    try:
        shared = _Bounded(problem, deadline, least_period=lo)
        note()
        if best is not None:
            hi = max(_longest_stage(prefix, best), problem.ddr_period_s)
            candidates = _stage_times(prefix, problem.n_layers, lo, hi)
        else:  # the largest target is tried last: no plan at it proves there is none
            if cap < lo * (1 - 1e-12):
                return None, None, True
            candidates = _stage_times(prefix, problem.n_layers, lo, cap * (1 + 1e-12))
            hi = np.inf
        candidates = np.concatenate([[lo], candidates]) if lo < hi * (1 - 1e-12) else candidates
        if len(candidates):  # stage times a rounding apart are one target (the largest of them)
            candidates = candidates[np.r_[candidates[1:] > candidates[:-1] * (1 + 1e-12), True]]
        if problem.batch > 1 and len(candidates):  # the period weighs on the latency: ranges from the shortest up
            found = _first_in_ranges(problem, shared, deadline, candidates)
            return (found if found is not None else best), None, True
        first = True
        while len(candidates):
            # first the unbounded optimum's period (met: nothing is faster) or, with no plan known, the largest
            # target (not met: there is no plan); then bisection
            mid = len(candidates) // 2
            if first:
                mid = 0 if best is not None and relaxed_done else len(candidates) - 1 if best is None else mid
            first = False
            plan = shared.solve(deadline, float(candidates[mid]), None)
            if plan is None:
                proven = float(candidates[mid])
                candidates = candidates[mid + 1:]
            else:
                best = plan
                hi = max(_longest_stage(prefix, best), problem.ddr_period_s)
                candidates = candidates[:mid][candidates[:mid] < hi * (1 - 1e-12)]
            note()
        return best, None, True
    except _Timeout:
        return best, 1.0 / proven, False


def _solve_latency_ranges(problem: Problem, shared: _Bounded, deadline: float, incumbent: Plan | None,
                          least_period: float = 0.0) -> Groups | None:
    """The latency objective on a batch (latency = stage sum + (batch - 1) x period): branch and bound over ranges
    of the period. The period is a stage time or the DDR period; for a range ``[T_a, T_b]`` of those, the label
    search with every stage within ``T_b`` (no longest-stage column: bounds read ``T_a``) gives the least stage sum
    ``H`` of any plan there that could beat the known plan, so no plan in the range is faster than
    ``H + (batch - 1) x T_a``; a range whose bound does not beat the known plan is dropped, the others halved (``H``
    stays a bound on their sums: fewer stage times allowed never make a sum smaller). A one-value range is
    decided by its search. ``least_period``: no plan's period is shorter (the unbounded throughput optimum's).
    Returns the best plan found (None: the incumbent stays best)."""
    p = problem
    prefix = prefix_sums(p.time_s)
    chain = float(p.time_s.min(axis=1).sum())
    lo = max(float(p.time_s.min(axis=1).max()), p.ddr_period_s, least_period)
    best, value = None, (incumbent.latency_ms * 1e-3 if incumbent is not None else np.inf)
    cap = busy_cap_s(p)
    if np.isfinite(value):
        cap = min(cap, (value - chain) / (p.batch - 1))
    if cap < lo * (1 - 1e-12):
        return None
    cands = np.concatenate([[lo], _stage_times(prefix, p.n_layers, lo, cap * (1 + 1e-12))])
    # (first, last, a lower bound on the stage sum): ranges doubling from the shortest period, tried in that order
    # (the period weighs batch - 1 times: the best plans tend to be among the fastest, and short ranges search fast)
    ranges, a = [], 0
    while a < len(cands):
        b = min(2 * a, len(cands) - 1)
        ranges.append((a, b, chain))
        a = b + 1
    ranges.reverse()
    while ranges:
        a, b, h = ranges.pop()
        if h + (p.batch - 1) * cands[a] >= value * (1 - 1e-12):
            continue
        known = incumbent if best is None else evaluate(p, best)
        groups = shared.solve(deadline, float(cands[b]), known, period_floor=float(cands[a]))
        if shared.incumbent is not None and (known is None or better(p.objective, shared.incumbent.objective_value(),
                                                                     known.objective_value())):
            best, value = plan_groups(p, shared.incumbent), shared.incumbent.latency_ms * 1e-3
        if groups is not None:
            plan = evaluate(p, groups)
            if plan.feasible and plan.latency_ms * 1e-3 < value:
                best, value = groups, plan.latency_ms * 1e-3
        if a == b or not np.isfinite(shared.least_sum):
            continue
        h = max(h, shared.least_sum)
        m = (a + b) // 2
        ranges += [(m + 1, b, h), (a, m, h)]  # the shorter periods first
    return best


def _solve_bounded(problem: Problem, deadline: float, heuristic: Candidate | None) -> tuple:
    """Latency or energy objective (any bounds): (groups, finished, incumbent) by label setting, started from the
    best of the heuristic's, the fastest contiguous and the one-accelerator plans."""
    fastest, _, relaxed_done = _solve_throughput(problem, deadline, ignore_latency_bound=True)
    known = [g for g in (heuristic.groups if heuristic else None, fastest, _single_accelerator(problem)) if g is not None]
    heuristic = best_candidate(problem, known) or heuristic
    least_period = 0.0  # the unbounded throughput optimum's period: no plan has a shorter one
    if relaxed_done and fastest is not None:
        least_period = max(_longest_stage(prefix_sums(problem.time_s), fastest), problem.ddr_period_s)
    shared = None
    try:
        shared = _Bounded(problem, deadline, heuristic.plan if heuristic else None, least_period)
        if problem.objective == "latency" and problem.batch > 1:
            groups = _solve_latency_ranges(problem, shared, deadline, heuristic.plan if heuristic else None,
                                           least_period)
        else:
            groups = shared.solve(deadline, None, heuristic.plan if heuristic else None)
    except _Timeout:
        groups, finished = None, False
    else:
        finished = True
    incumbent = getattr(shared, "incumbent", None)
    if incumbent is not None and (heuristic is None or incumbent is not heuristic.plan):
        heuristic = best_candidate(problem, [g for g in (heuristic.groups if heuristic else None,
                                                         plan_groups(problem, incumbent)) if g is not None])
    return groups, finished, heuristic


def solve_dp(problem: Problem, time_limit_s: float, seed: int, options: dict) -> Outcome:
    """Exact contiguous pipeline plan (the pipeline form's dp; the other forms' are :mod:`.segment_dp`,
    :mod:`.device_dp` and :mod:`.replicated`). The registry refuses layers in any order."""
    deadline = time.perf_counter() + time_limit_s
    bound, anytime = None, Anytime()
    if problem.objective == "throughput" and problem.latency_max_s is None:
        groups, infeasible_below, finished = _solve_throughput(problem, deadline, ignore_latency_bound=False,
                                                               anytime=anytime)
        bound = 1.0 / infeasible_below if infeasible_below > 0 else None
        how = "target search with Pareto labels on the resources"
        heuristic = None if finished else best_contiguous(problem)  # the fallback when the search stopped early
    elif problem.objective == "throughput":
        heuristic = best_contiguous(problem)
        groups, bound, finished = _solve_bounded_throughput(problem, deadline, heuristic, anytime)
        how = "target search under the latency bound, Pareto labels on the resources and the stage sum"
    else:
        groups, finished, heuristic = _solve_bounded(problem, deadline, best_contiguous(problem))
        how = "Pareto label setting over cut points"
    best = best_candidate(problem, [g for g in (groups, heuristic.groups if heuristic else None) if g is not None])
    if best is None:
        return Outcome(None, "infeasible" if finished else "time_limit", note="no contiguous plan" if finished else "")
    return Outcome(best.groups, "optimal" if finished else "time_limit", bound, note=how, progress=anytime.curve)
