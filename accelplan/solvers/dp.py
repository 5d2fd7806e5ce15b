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
from dataclasses import dataclass

import numpy as np

from ..dominance import Timeout as _Timeout
from ..dominance import pareto_min
from ..execution.prefix import prefix_sums
from ..execution.pipeline import busy_cap_s
from ..plan import Anytime, Groups, Outcome, Plan, evaluate
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
    span = prefix[None, :, :] - prefix[:, None, :]
    values = span[np.triu_indices(n + 1, k=1)].reshape(-1)
    return np.unique(values[(values > low) & (values < high)])


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

    def dominance(self, stage_sum: bool, energy: bool) -> list[int]:
        """The columns a label must not exceed to beat another: the ones the objective and bounds read."""
        return ([self.groups, *range(self.resources.start, self.resources.stop), self.longest_stage]
                + ([self.stage_sum] if stage_sum else []) + ([self.energy] if energy else []))


class _LabelSearch:
    """What the label search reads, computed once per problem: tables, the column layout and the pruning bounds."""

    def __init__(self, problem: Problem, incumbent: Plan | None):
        p = self.problem = problem
        binding = _binding(p)  # budgets no plan can exceed need no label column
        self.usage, self.capacity = p.usage[:, binding], p.capacity[binding] * (1 + 1e-9)
        self.cols = LabelColumns.for_resources(self.usage.shape[1])
        self.dims = self.cols.dominance(stage_sum=p.objective == "latency" or p.latency_max_s is not None,
                                        energy=p.objective == "energy")
        self.t_pre, self.e_pre = prefix_sums(p.time_s), prefix_sums(p.energy_j)
        self.stage_cap = busy_cap_s(p) * (1 + 1e-9)
        fastest = p.time_s.min(axis=1)
        # the most optimistic rest of the chain from cut point j: its time, a lower bound on a later stage, its energy
        self.rest_time = np.concatenate([np.cumsum(fastest[::-1])[::-1], [0.0]])
        self.rest_stage = np.concatenate([np.maximum.accumulate(fastest[::-1])[::-1], [0.0]])
        self.rest_energy = np.concatenate([np.cumsum(p.energy_j.min(axis=1)[::-1])[::-1], [0.0]])
        self.best_value = incumbent.objective_value() if incumbent is not None else None

    def start(self) -> tuple[np.ndarray, np.ndarray]:
        """The empty label at cut point 0, and its link (no parent)."""
        return np.zeros((1, self.cols.width)), np.full((1, 3), -1)

    def promising(self, lab: np.ndarray, j: np.ndarray) -> np.ndarray:
        """Labels whose most optimistic completion meets the latency bound and beats the known plan."""
        p, col = self.problem, self.cols
        period = np.maximum(np.maximum(lab[:, col.longest_stage], self.rest_stage[j]), p.ddr_period_s)
        latency = lab[:, col.stage_sum] + self.rest_time[j] + (p.batch - 1) * period
        keep = np.ones(len(lab), dtype=bool)
        if p.latency_max_s is not None:
            keep &= latency <= p.latency_max_s * (1 + 1e-9)
        if self.best_value is not None:
            if p.objective == "throughput":
                keep &= 1.0 / period > self.best_value * (1 + 1e-12)
            elif p.objective == "latency":
                keep &= latency * 1e3 < self.best_value * (1 - 1e-12)
            else:
                energy = lab[:, col.energy] + self.rest_energy[j] + p.static_power_w * period
                keep &= energy * 1e3 < self.best_value * (1 - 1e-12)
        return keep

    def expand(self, i: int, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Every promising transition from cut point ``i``: (new labels, their cut points, links)."""
        p, col = self.problem, self.cols
        rows = np.flatnonzero(labels[:, col.groups] < p.accelerator_slots)
        base = labels[rows]
        busy = self.t_pre[i + 1:] - self.t_pre[i]  # (ends, C)
        energy = self.e_pre[i + 1:] - self.e_pre[i]
        # every (label, configuration, end) transition, as flat arrays
        lab_idx, cfg, end_idx = (x.reshape(-1) for x in np.meshgrid(
            np.arange(len(base)), np.arange(p.n_configs), np.arange(len(busy)), indexing="ij"))
        stage = busy[end_idx, cfg]
        use = base[lab_idx, col.resources] + self.usage[cfg]
        ok = (stage <= self.stage_cap) & np.all(use <= self.capacity, axis=1)
        lab_idx, cfg, end_idx, stage, use = lab_idx[ok], cfg[ok], end_idx[ok], stage[ok], use[ok]
        new = base[lab_idx].copy()
        new[:, col.groups] += 1
        new[:, col.resources] = use
        new[:, col.stage_sum] += stage
        new[:, col.longest_stage] = np.maximum(new[:, col.longest_stage], stage)
        new[:, col.energy] += energy[end_idx, cfg]
        j = i + 1 + end_idx
        keep = self.promising(new, j)
        link = np.column_stack([np.full(keep.sum(), i), rows[lab_idx[keep]], cfg[keep]])
        return new[keep], j[keep], link

    def merge(self, pending: list[tuple[np.ndarray, np.ndarray]], deadline: float) -> tuple[np.ndarray, np.ndarray]:
        """The Pareto-minimal labels (and their links) among those that reached one cut point."""
        lab = np.concatenate([x for x, _ in pending])
        lnk = np.concatenate([y for _, y in pending])
        keep = pareto_min(lab[:, self.dims], deadline=deadline)
        return lab[keep], lnk[keep]


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


def _solve_labels(problem: Problem, deadline: float, incumbent: Plan | None) -> tuple[Groups | None, bool]:
    """Pareto label setting over every transition; exact for every objective and bound. Returns (groups, finished)."""
    n = problem.n_layers
    search = _LabelSearch(problem, incumbent)
    labels: list[np.ndarray | None] = [None] * (n + 1)
    links: list[np.ndarray | None] = [None] * (n + 1)  # (from cut point, parent row, configuration)
    pending: list[list[tuple[np.ndarray, np.ndarray]]] = [[] for _ in range(n + 1)]
    labels[0], links[0] = search.start()
    for i in range(n + 1):
        if i > 0:
            if not pending[i]:
                continue
            try:
                labels[i], links[i] = search.merge(pending[i], deadline)
            except _Timeout:
                return None, False
            pending[i] = []
        if i == n:
            break
        if time.perf_counter() > deadline:
            return None, False
        _file_by_cut_point(pending, *search.expand(i, labels[i]))
    if labels[n] is None:
        return None, True
    best = best_candidate(problem, [_walk_back(links, n, row) for row in range(len(labels[n]))])
    return (best.groups if best is not None else None), True


def _solve_bounded(problem: Problem, deadline: float, heuristic: Candidate | None) -> tuple:
    """Other objectives or a latency bound: (groups, finished, incumbent) by label setting, started from the
    fastest contiguous plan (for throughput it is the optimum whenever it meets the latency bound)."""
    fastest, _, relaxed_done = _solve_throughput(problem, deadline, ignore_latency_bound=True)
    if fastest is not None:
        known = [g for g in (heuristic.groups if heuristic else None, fastest) if g is not None]
        heuristic = best_candidate(problem, known) or heuristic
        if problem.objective == "throughput" and relaxed_done and evaluate(problem, fastest).feasible:
            return fastest, True, heuristic
    groups, finished = _solve_labels(problem, deadline, heuristic.plan if heuristic else None)
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
    else:
        groups, finished, heuristic = _solve_bounded(problem, deadline, best_contiguous(problem))
        how = "Pareto label setting over cut points"
    best = best_candidate(problem, [g for g in (groups, heuristic.groups if heuristic else None) if g is not None])
    if best is None:
        return Outcome(None, "infeasible" if finished else "time_limit", note="no contiguous plan" if finished else "")
    return Outcome(best.groups, "optimal" if finished else "time_limit", bound, note=how, progress=anytime.curve)
