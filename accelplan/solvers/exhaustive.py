"""The ``exhaustive`` strategy: enumerate every plan of a small problem; the reference for the others.

Hybrid enumerates every set partition of the layers into at most ``max_accelerators`` groups,
spatial every split into consecutive groups, sequential the single group; each group takes every
configuration (pruned only when the budgets are exceeded). Every candidate is priced by the shared
evaluator. On a chiplet package (mcm) it enumerates segment cuts, cluster cuts and cluster sizes.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

from ..errors import SolveError
from ..plan import Plan, SolverFacts, better, evaluate, infeasible_plan, metrics
from ..problem import Problem
from ..execution.segments import segment_rules

#: refuse problems whose (partitions x configurations) count exceeds this
MAX_CANDIDATES = 5_000_000


def partitions(n: int, max_groups: int, contiguous: bool) -> Iterator[list[list[int]]]:
    """Set partitions of ``range(n)`` into at most ``max_groups`` blocks (blocks ordered by first element)."""
    if contiguous:
        def cuts(start: int, left: int) -> Iterator[list[list[int]]]:
            if start == n:
                yield []
                return
            if left == 0:
                return
            for end in range(start + 1, n + 1):
                for rest in cuts(end, left - 1):
                    yield [list(range(start, end))] + rest
        yield from cuts(0, max_groups)
        return

    def grow(i: int, blocks: list[list[int]]) -> Iterator[list[list[int]]]:
        if i == n:
            yield [list(b) for b in blocks]
            return
        for b in blocks:
            b.append(i)
            yield from grow(i + 1, blocks)
            b.pop()
        if len(blocks) < max_groups:
            blocks.append([i])
            yield from grow(i + 1, blocks)
            blocks.pop()
    yield from grow(0, [])


def count_candidates(problem: Problem) -> int:
    """Upper bound on the candidates enumerated (partitions x configurations per group)."""
    total = 0
    for blocks in partitions(problem.n_layers, problem.accelerator_slots, problem.execution == "spatial"):
        total += problem.n_configs ** len(blocks)
        if total > MAX_CANDIDATES:
            break
    return total


def mcm_plans(problem: Problem) -> Iterator[tuple[tuple[int, tuple[int, ...], int], ...]]:
    """Every plan on a chiplet package: segment cuts x cluster cuts per segment x a configuration per cluster
    (chiplets per segment within the package, the execution model's rules applied)."""
    n = problem.n_layers
    max_len, allowed, max_clusters = segment_rules(problem)
    chiplets = problem.segments.chiplets

    def clusters(start: int, stop: int, left: int, count: int) -> Iterator[list[tuple[int, tuple[int, ...]]]]:
        if start == stop:
            yield []
            return
        if count == max_clusters:
            return
        for end in range(start + 1, min(stop, start + max_len) + 1):
            for c in allowed:
                g = problem.configs[c].units
                if g <= left:
                    for rest in clusters(end, stop, left - g, count + 1):
                        yield [(c, tuple(range(start, end)))] + rest

    def plans(start: int, seg: int) -> Iterator[list[tuple[int, tuple[int, ...], int]]]:
        if start == n:
            yield []
            return
        for end in range(start + 1, n + 1):
            for first in clusters(start, end, chiplets, 0):
                for rest in plans(end, seg + 1):
                    yield [(c, ls, seg) for c, ls in first] + rest

    for plan in plans(0, 0):
        yield tuple(plan)


def _exhaustive_mcm(problem: Problem, time_limit_s: float) -> Plan:
    start = time.perf_counter()
    best: tuple | None = None
    evaluations, finished = 0, True
    for groups in mcm_plans(problem):
        if evaluations % 256 == 0 and time.perf_counter() - start > time_limit_s:
            finished = False
            break
        evaluations += 1
        if evaluations > MAX_CANDIDATES:
            raise SolveError(f"exhaustive enumeration of {problem.n_layers} layers on {problem.segments.chiplets} chiplets "
                             f"exceeds {MAX_CANDIDATES:,} plans; use dp")
        best = _keep_better(problem, best, groups)
    return _result(problem, best, finished, time.perf_counter() - start, evaluations)


def _keep_better(problem: Problem, best: tuple | None, groups) -> tuple | None:
    """``(objective value, groups)`` of the better of ``best`` and ``groups`` (when feasible)."""
    met = metrics(problem, groups)
    if met.violations:
        return best
    value = met.objective_value(problem.objective)
    return (value, groups) if best is None or better(problem.objective, value, best[0]) else best


def _result(problem: Problem, best: tuple | None, finished: bool, elapsed: float, evaluations: int) -> Plan:
    if best is None:
        status = "infeasible" if finished else "time_limit"
        return infeasible_plan(problem, SolverFacts("exhaustive", status, None, None, None, elapsed, evaluations,
                                                    "no plan meets the constraints" if finished else "time limit reached"))
    value, groups = best
    facts = SolverFacts("exhaustive", "optimal" if finished else "time_limit", value, value if finished else None,
                        0.0 if finished else None, elapsed, evaluations, model_objective=value)
    return evaluate(problem, groups, facts)


def solve_exhaustive(problem: Problem, time_limit_s: float = 60.0, seed: int = 0) -> Plan:
    """Evaluate every plan; the best feasible one is optimal when enumeration finishes in time (``seed`` unused)."""
    if problem.family == "mcm":
        return _exhaustive_mcm(problem, time_limit_s)
    if count_candidates(problem) > MAX_CANDIDATES:
        raise SolveError(f"exhaustive enumeration of {problem.n_layers} layers x {problem.n_configs} configurations "
                         f"exceeds {MAX_CANDIDATES:,} candidates; use milp")
    start = time.perf_counter()
    best: tuple | None = None  # (objective value, groups)
    evaluations = 0
    finished = True
    cap = problem.capacity
    for blocks in partitions(problem.n_layers, problem.accelerator_slots, problem.execution == "spatial"):
        if time.perf_counter() - start > time_limit_s:
            finished = False
            break

        def assign(k: int, chosen: list[int], used) -> Iterator[list[int]]:
            if k == len(blocks):
                yield list(chosen)
                return
            for c in range(problem.n_configs):
                nxt = used + problem.usage[c]
                if (nxt <= cap * (1 + 1e-9)).all():
                    chosen.append(c)
                    yield from assign(k + 1, chosen, nxt)
                    chosen.pop()

        for configs in assign(0, [], problem.usage[0] * 0):
            evaluations += 1
            best = _keep_better(problem, best, tuple((c, tuple(b)) for c, b in zip(configs, blocks)))
    return _result(problem, best, finished, time.perf_counter() - start, evaluations)
