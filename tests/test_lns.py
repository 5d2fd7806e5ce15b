"""Large-neighbourhood search (``lns``): feasible, never worse than its start, exact where its
neighbourhood covers the whole chain, seeded, and its sub-problems are the whole plan's restriction."""

from __future__ import annotations

import math
import time
from dataclasses import replace

import pytest

from accelplan import api
from accelplan.errors import SolveError
from accelplan.families import build_problem
from accelplan.plan import evaluate, plan_groups
from accelplan.solvers import solve
from accelplan.solvers.scheduled import needs_certifying
from accelplan.solvers.contiguous import best_contiguous
from accelplan.solvers.lns import PipelineMoves, SegmentMoves, _Overrun, watchdog

from conftest import random_mcm_problem, random_problem, sweep


def _close(a: float, b: float, rel: float = 1e-6) -> bool:
    return math.isclose(a, b, rel_tol=rel, abs_tol=1e-12)


@pytest.mark.parametrize("seed", sweep(range(10), 3))
@pytest.mark.parametrize("objective", ["throughput", "latency", "energy"])
def test_lns_is_feasible_and_exact_on_tiny_chains(seed: int, objective: str) -> None:
    # at most 3 accelerators: the largest neighbourhood frees every one of them, the whole problem
    problem = random_problem(seed, objective)
    reference = solve(problem, "exhaustive")
    plan = solve(problem, "lns", time_limit_s=30)
    if reference.solver.status == "infeasible":
        assert plan.solver.status in ("infeasible", "time_limit") and not plan.accelerators
        return
    assert plan.feasible and not plan.violations, plan.violations
    again = evaluate(problem, plan_groups(problem, plan))  # priced from scratch
    assert again.feasible and _close(again.objective_value(), plan.objective_value())
    assert _close(plan.objective_value(), reference.objective_value()), (plan.solver, reference.solver)
    # proven by its exact start, except on the schedule of a re-entrant batch, where that start's bound may not close
    assert plan.solver.status == "optimal" or needs_certifying(problem), plan.solver
    start = plan.solver.progress[0].objective  # the anytime curve starts at the start plan
    assert not problem.objective.better(start, plan.objective_value())


@pytest.mark.parametrize("seed", range(8))
def test_lns_never_ends_worse_than_its_warm_start(seed: int) -> None:
    problem = random_problem(seed + 200, "throughput")
    best = solve(problem, "exhaustive")
    if not best.feasible:
        pytest.skip("no feasible plan to start from")
    groups = plan_groups(problem, best)
    plan = solve(problem, "lns", time_limit_s=30, incumbent=groups, moves=1)
    assert plan.feasible and plan.solver.progress[0].objective == best.objective_value()
    assert _close(plan.objective_value(), best.objective_value())  # it cannot beat the optimum, nor lose it
    ignored = solve(problem, "lns", time_limit_s=30, incumbent=())  # an infeasible warm start: the usual start
    assert ignored.feasible and _close(ignored.objective_value(), best.objective_value())


@pytest.mark.slow
def test_lns_improves_on_its_start_and_is_seeded() -> None:
    problem = build_problem(api.make_study(model="bert-base", hardware="vck190", execution="hybrid", batch=16,
                                           max_accelerators=6))
    start = best_contiguous(problem)  # a warm start far from the optimum (1250 against 1503 inferences/s)
    first = solve(problem, "lns", time_limit_s=60, seed=3, moves=6, incumbent=start.groups)
    second = solve(problem, "lns", time_limit_s=60, seed=3, moves=6, incumbent=start.groups)
    curve = [p.objective for p in first.solver.progress]
    assert curve[0] == start.plan.objective_value()
    assert first.feasible and curve == sorted(curve) and curve[-1] > curve[0] * 1.02  # moves found better plans
    assert first.solver.evaluations == 6 and first.solver.status == "feasible"
    assert plan_groups(problem, first) == plan_groups(problem, second)
    assert first.objective_value() == second.objective_value()


def _spread_plans(count: int):
    """Random problems (latency objective, 6-9 layers) and a contiguous plan of each on at least 2 accelerators."""
    seed = 300
    while count:
        problem = random_problem(seed, "latency", layers=(6, 9))
        seed += 1
        start = best_contiguous(problem)
        if start is not None and len(start.groups) >= 2:
            count -= 1
            yield problem, start.groups


@pytest.mark.parametrize("case", list(_spread_plans(6)), ids=[f"plan{i}" for i in range(6)])
def test_restriction_is_the_whole_plan_less_a_constant(case) -> None:
    problem, groups = case
    window = PipelineMoves().restrict(problem, groups, (0,))
    sub_groups = ((groups[0][0], tuple(window.layers.index(l) for l in groups[0][1])),)
    whole, part = evaluate(problem, window.expand(sub_groups)), evaluate(window.problem, sub_groups)
    assert whole.feasible and part.feasible
    assert _close(whole.period_ms, part.period_ms)  # the kept stages are the sub-problem's floor
    kept = sum(a.busy_ms for a in whole.accelerators) - sum(a.busy_ms for a in part.accelerators)
    assert _close(whole.latency_ms, part.latency_ms + kept)
    assert window.problem.accelerator_slots == problem.accelerator_slots - (len(groups) - 1)


def _one_segment_per_layer(problem) -> tuple:
    """The slowest sensible segment plan: every layer its own segment on the whole package."""
    full = next(c for c, cfg in enumerate(problem.configs) if cfg.units == problem.segments.chiplets)
    return tuple((full, (l,), l) for l in range(problem.n_layers))


@pytest.mark.parametrize("seed", range(7))
@pytest.mark.parametrize("objective", ["throughput", "energy"])
def test_lns_on_segments_reaches_the_optimum_from_a_poor_start(seed: int, objective: str) -> None:
    problem = random_mcm_problem(seed, objective, layers=(4, 7), execution="merged-pipeline")
    reference = solve(problem, "dp", time_limit_s=30)
    poor = _one_segment_per_layer(problem)
    plan = solve(problem, "lns", time_limit_s=30, seed=seed, incumbent=poor)
    assert reference.solver.status == "optimal" and plan.feasible
    assert plan.solver.progress[0].objective == evaluate(problem, poor).objective_value()
    assert _close(plan.objective_value(), reference.objective_value()), (plan.solver, reference.solver)
    assert plan.solver.status == "optimal"  # the largest window is the whole chain, solved by dp


@pytest.mark.parametrize("seed", range(6))
def test_a_segment_window_changes_the_whole_plan_as_much_as_itself(seed: int) -> None:
    problem = random_mcm_problem(seed + 40, "throughput", layers=(6, 9), execution="merged-pipeline")
    groups = plan_groups(problem, solve(problem, "dp", time_limit_s=30))
    segments = sorted({g[2] for g in groups})
    freed = tuple(segments[-2:]) if len(segments) > 1 else (0,)
    window = SegmentMoves().restrict(problem, groups, freed)
    current = tuple((c, tuple(window.layers.index(l) for l in ls), s - freed[0]) for c, ls, s in groups if s in freed)
    other = _one_segment_per_layer(window.problem)
    assert evaluate(problem, window.expand(current)).objective_value() == pytest.approx(
        evaluate(problem, groups).objective_value(), rel=1e-12)
    whole = [evaluate(problem, window.expand(g)) for g in (current, other)]
    part = [evaluate(window.problem, g) for g in (current, other)]
    assert all(p.feasible for p in whole + part)
    assert whole[1].latency_ms - whole[0].latency_ms == pytest.approx(part[1].latency_ms - part[0].latency_ms, rel=1e-9)


def test_lns_refuses_device_chains_naming_who_covers_them(root) -> None:
    problem = build_problem(api.make_study(root / "specs" / "studies" / "llama-7b-decode_u250-x32.yaml"))
    with pytest.raises(SolveError, match=r"strategies that cover this problem: dp(, \w+)* \(exact; auto picks dp\)"):
        solve(problem, "lns", time_limit_s=5)


def test_watchdog_stops_code_that_ignores_the_clock() -> None:
    start = time.perf_counter()
    with pytest.raises(_Overrun):
        with watchdog(0.2):
            while True:
                pass
    assert time.perf_counter() - start < 5


def test_a_plan_at_the_ddr_floor_is_proven_without_a_move() -> None:
    # every plan's period is at least the DDR time per input: a DDR as slow as the start's longest stage
    problem = build_problem(api.make_study(model="bert-base", hardware="vck190", execution="hybrid", batch=16,
                                           max_accelerators=6))
    start = best_contiguous(problem)
    slow = replace(problem, ddr_period_s=start.plan.period_ms / 1e3)
    plan = solve(slow, "lns", time_limit_s=30, incumbent=start.groups)
    assert plan.solver.status == "optimal" and plan.solver.evaluations == 0
    assert plan.objective_value() == pytest.approx(start.plan.throughput, rel=1e-9)
    assert solve(slow, "colgen", time_limit_s=30).objective_value() == pytest.approx(plan.objective_value(), rel=1e-9)
