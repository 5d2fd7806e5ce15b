"""Fast contiguous plans: the starting incumbent handed to exact solvers.

Layers are split into consecutive groups, one accelerator each. For a target stage time ``T``,
dynamic programming over the cut points finds the split whose groups each meet ``T`` with the
least summed resource (engines, ports or buffer, normalised by budget), using at most ``slots``
groups; bisection over ``T`` finds the smallest target whose split fits every budget. Candidates
are priced by the shared evaluator and the best feasible one is returned with its groups. It is a
heuristic (it ignores non-contiguous groupings and bounds only the stage time): the incumbent and
warm start of ``milp``, ``cpsat``, ``dp`` and the Optuna searches.
"""

from __future__ import annotations

import numpy as np

from dataclasses import dataclass

from ..execution.prefix import prefix_sums
from ..plan import Groups, Plan, better, evaluate, metrics
from ..problem import Problem

MAX_SPAN = 20_000_000  # entries of the (layers+1)^2 tables of a split's cost and choice (160 MB each at 8 bytes)


@dataclass(frozen=True)
class Candidate:
    """A plan's groups and the plan the evaluator made of them (strategies start from its groups)."""

    groups: Groups
    plan: Plan


def _min_cost_split(cost: np.ndarray, choice: np.ndarray, slots: int) -> list[tuple[int, int, int]]:
    """Cheapest split of layers 0..n into at most ``slots`` consecutive groups; ``cost[i, j]`` prices group i..j-1."""
    n = cost.shape[0] - 1
    best = np.full((slots + 1, n + 1), np.inf)
    arg = np.zeros((slots + 1, n + 1), dtype=int)
    best[0, 0] = 0.0
    for g in range(1, slots + 1):
        cand = best[g - 1, :, None] + cost  # (i, j)
        arg[g] = cand.argmin(axis=0)
        best[g] = np.take_along_axis(cand, arg[g][None, :], axis=0)[0]
    g = int(np.argmin(best[:, n]))
    if not np.isfinite(best[g, n]):
        return []
    out, j = [], n
    for gg in range(g, 0, -1):
        i = int(arg[gg, j])
        out.append((i, j, int(choice[i, j])))
        j = i
    return out[::-1]


def _greedy_split(prefix: np.ndarray, weight: np.ndarray, target: float, slots: int) -> list[tuple[int, int, int]]:
    """Consecutive groups within ``target``, each the cheapest configuration that covers at least an even share
    of the layers left (as far as it reaches); [] when the chain is not covered. Linear memory, for long chains."""
    n, pos, out = prefix.shape[0] - 1, 0, []
    for left in range(slots, 0, -1):
        reach = np.array([np.searchsorted(prefix[:, c], prefix[pos, c] + target * (1 + 1e-12), side="right") - 1
                          for c in range(prefix.shape[1])])
        ok = reach >= pos + -(-(n - pos) // left)
        if not ok.any():
            return []
        c = int(np.argmin(np.where(ok, weight, np.inf)))
        out.append((pos, int(min(reach[c], n)), c))
        pos = out[-1][1]
        if pos >= n:
            return out
    return []


def _cheapest_groups(prefix: np.ndarray, weight: np.ndarray, target: float) -> tuple[np.ndarray, np.ndarray]:
    """``cost[i, j]``: the least ``weight`` of a configuration that runs layers i..j-1 within ``target`` (inf when
    none does or j <= i), ``choice[i, j]`` that configuration (the lowest index among equals).

    Without the (layers+1)^2 x configurations table: ``reach[i, c]``, the furthest cut configuration c reaches
    from i, is a sorted search per column; in order of weight, the running maximum of the reaches tells for
    every j the first (cheapest) configuration that gets there: O(layers^2 log configurations)."""
    n1, n_configs = prefix.shape
    reach = np.empty((n1, n_configs), dtype=np.int64)
    for c in range(n_configs):
        col = prefix[:, c]
        reach[:, c] = np.where(np.isfinite(col), np.searchsorted(col, col + target, side="right") - 1, -1)
    order = np.argsort(weight, kind="stable")
    running = np.maximum.accumulate(reach[:, order], axis=1)  # (i, k): furthest cut of the k+1 cheapest
    # first[i, j]: how many of the cheapest configurations stop short of j (running[i] is sorted), by a count of the
    # reaches per row (one bincount) summed up to j
    shifted = running + 1 + (n1 + 1) * np.arange(n1)[:, None]  # reaches of -1 .. n1-1 as 0 .. n1, per row
    first = np.cumsum(np.bincount(shifted.ravel(), minlength=n1 * (n1 + 1)).reshape(n1, n1 + 1), axis=1)[:, :n1]
    valid = (first < n_configs) & (np.arange(n1)[None, :] > np.arange(n1)[:, None])
    choice = order[np.minimum(first, n_configs - 1)]
    return np.where(valid, weight[choice], np.inf), choice


def contiguous_plans(problem: Problem, iterations: int = 40) -> list[Groups]:
    """Contiguous candidate plans: for each resource weighting, the smallest stage-time target that fits.

    The split for a target is the cheapest (dp over cut points, :func:`_cheapest_groups`) when the chain
    is short enough for (layers+1)^2 tables (``MAX_SPAN`` entries), else :func:`_greedy_split`."""
    p = problem
    n = p.n_layers
    prefix = prefix_sums(p.time_s)
    small = (n + 1) ** 2 <= MAX_SPAN
    share = p.usage / p.capacity[None, :]
    weightings = [share[:, r] for r in range(share.shape[1])] + [share.max(axis=1), share.sum(axis=1)]
    out: list[Groups] = []
    for weight in weightings:
        def split_for(target: float) -> list[tuple[int, int, int]]:
            if not small:
                return _greedy_split(prefix, weight, target, p.accelerator_slots)
            return _min_cost_split(*_cheapest_groups(prefix, weight, target), p.accelerator_slots)

        def fits(split: list[tuple[int, int, int]]) -> bool:  # the metrics alone: no Plan, no schedule unless read
            return bool(split) and not metrics(p, tuple((c, tuple(range(i, j))) for i, j, c in split)).violations

        lo, hi = float(p.time_s.min(axis=1).max()), float((prefix[n] - prefix[0]).min())
        if not fits(split_for(hi)):
            continue
        for _ in range(iterations):
            mid = (lo + hi) / 2
            if fits(split_for(mid)):
                hi = mid
            else:
                lo = mid
            if hi - lo <= 1e-6 * hi:
                break
        out.append(tuple((c, tuple(range(i, j))) for i, j, c in split_for(hi)))
    return out


def best_candidate(problem: Problem, candidates: list[Groups]) -> Candidate | None:
    """The feasible candidate with the best objective value (the first of equals), or None."""
    best = None
    for groups in dict.fromkeys(candidates):  # weightings often agree: each distinct plan priced once
        plan = evaluate(problem, groups)
        if plan.feasible and (best is None or better(problem.objective, plan.objective_value(), best.plan.objective_value())):
            best = Candidate(problem.form.typed(groups), plan)
    return best


def best_contiguous(problem: Problem) -> Candidate | None:
    """The best feasible plan among :func:`contiguous_plans`, or None."""
    return best_candidate(problem, contiguous_plans(problem))
