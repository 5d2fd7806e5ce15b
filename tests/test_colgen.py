"""Branch and price (``colgen``) agrees with brute force; its knapsack pricing is exact or honestly bounded."""

from __future__ import annotations

import itertools
import math
import random

import numpy as np
import pytest

from accelplan.errors import SolveError
from accelplan.plan import evaluate, plan_groups
from accelplan.solvers import solve
from accelplan.solvers.knapsack import best_packing, fractional_bounds

from conftest import random_problem, sweep, variant


def _any_order(problem):
    """The random problem under an execution model colgen covers (spatial becomes hybrid)."""
    ex = problem.execution
    return variant(problem, execution="hybrid") if ex.contiguous and not ex.single else problem


@pytest.mark.parametrize("seed", sweep(range(40), 10))
def test_colgen_matches_exhaustive(seed: int) -> None:
    problem = _any_order(random_problem(seed, "throughput"))
    reference = solve(problem, "exhaustive")
    plan = solve(problem, "colgen", time_limit_s=30)
    assert reference.solver.status in ("optimal", "infeasible")
    assert plan.solver.status == reference.solver.status, (plan.solver, reference.solver)
    if reference.solver.status == "optimal":
        assert math.isclose(plan.objective_value(), reference.objective_value(), rel_tol=1e-6)
        assert math.isclose(plan.solver.model_objective, plan.objective_value(), rel_tol=1e-9)
        assert plan.feasible and not plan.violations
        again = evaluate(problem, plan_groups(problem, plan))
        assert math.isclose(again.objective_value(), plan.objective_value(), rel_tol=1e-12)


@pytest.mark.parametrize("seed", sweep(range(200, 206), 1))
def test_colgen_matches_milp_on_larger_instances(seed: int) -> None:
    """Ten to fourteen layers on up to three accelerators: the two exact methods prove the same optimum."""
    problem = _any_order(random_problem(seed, "throughput", layers=(10, 14)))
    milp = solve(problem, "milp", time_limit_s=60)
    plan = solve(problem, "colgen", time_limit_s=60)
    assert milp.solver.status in ("optimal", "infeasible")
    assert plan.solver.status == milp.solver.status
    if milp.solver.status == "optimal":
        assert math.isclose(plan.objective_value(), milp.objective_value(), rel_tol=1e-6)


def test_colgen_refuses_what_it_does_not_model() -> None:
    problem = random_problem(3, "throughput")
    with pytest.raises(SolveError, match="consecutive layers"):
        solve(variant(problem, execution="spatial"), "colgen")
    with pytest.raises(SolveError, match=r"not latency; strategies that cover this problem: milp, cpsat"):
        solve(variant(problem, execution="hybrid", objective="latency"), "colgen")


def _brute_force(value, weight, count, capacity) -> float:
    best = 0.0
    for counts in itertools.product(*(range(q + 1) for q in count)):
        if np.dot(counts, weight) <= capacity * (1 + 1e-12):
            best = max(best, float(np.dot(counts, value)))
    return best


@pytest.mark.parametrize("seed", range(30))
def test_knapsack_is_exact_and_bounds_hold(seed: int) -> None:
    rng = random.Random(seed)
    k = rng.randint(1, 4)
    value = np.array([rng.uniform(-1, 5) for _ in range(k)])
    weight = np.array([rng.uniform(0.5, 4) for _ in range(k)])
    count = np.array([rng.randint(0, 4) for _ in range(k)])
    capacity = rng.uniform(1, 10)
    truth = _brute_force(value, weight, count, capacity)
    exact = best_packing(value, weight, count, capacity)
    if truth > 0:
        assert exact.counts is not None and math.isclose(exact.value, truth, rel_tol=1e-9)
        assert np.dot(exact.counts, weight) <= capacity * (1 + 1e-12)
    else:
        assert exact.counts is None
    # cut short or told a threshold, the search still never claims less than the truth
    for threshold, slack, limit in ((0.0, 0.5, 1), (truth * 0.9, 0.0, 2), (truth + 1.0, 0.0, None)):
        found = best_packing(value, weight, count, capacity, threshold, slack, limit)
        assert found.upper >= truth - 1e-9
        if found.counts is not None:
            assert found.value > threshold and np.dot(found.counts, weight) <= capacity * (1 + 1e-12)
    late = best_packing(value, weight, count, capacity, deadline=0.0)  # past its deadline: stops at once, bound kept
    assert late.upper >= truth - 1e-9 and (late.counts is None or late.value <= truth + 1e-9)
    assert fractional_bounds(value[:, None], weight[:, None], count.astype(float), capacity)[0] >= truth - 1e-9


@pytest.mark.parametrize("seed", range(8))
def test_colgen_honours_throughput_min(seed: int) -> None:
    """A throughput floor just below the optimum keeps it; just above it leaves no plan (proven)."""
    from dataclasses import replace

    base = _any_order(random_problem(seed, "throughput"))
    best = solve(base, "exhaustive")
    if best.solver.status != "optimal":
        return
    for factor, status in ((0.99, "optimal"), (1.01, "infeasible")):
        problem = replace(base, throughput_min=best.throughput * factor)
        assert solve(problem, "exhaustive").solver.status == status
        plan = solve(problem, "colgen", time_limit_s=30)
        assert plan.solver.status == status, (factor, plan.solver)
        if status == "optimal":
            assert math.isclose(plan.objective_value(), best.objective_value(), rel_tol=1e-6)


@pytest.mark.parametrize("seed", range(12))
def test_dominated_configurations_are_never_needed(seed: int) -> None:
    """Each dominated configuration has a dominator (no slower on any layer, no more of any resource), each
    other one has none; pricing them out of reach (over the budgets) keeps the exhaustive optimum."""
    from dataclasses import replace

    from accelplan.formulations.configuration_lp import ClassTable, dominated_configs

    problem = _any_order(random_problem(seed, "throughput"))
    dominated = dominated_configs(ClassTable.of(problem), problem.usage)
    t, u = problem.time_s, problem.usage
    for c2 in range(problem.n_configs):
        dominators = [c for c in range(problem.n_configs) if c != c2 and np.all(t[:, c] <= t[:, c2])
                      and np.all(u[c] <= u[c2]) and (np.any(t[:, c] < t[:, c2]) or np.any(u[c] < u[c2]) or c < c2)]
        assert bool(dominators) == (c2 in dominated), (c2, dominators)
    if not dominated:
        return
    usage = problem.usage.copy()
    usage[sorted(dominated)] = problem.capacity * 2
    without = replace(problem, usage=usage)
    full, reduced = solve(problem, "exhaustive"), solve(without, "exhaustive")
    assert full.solver.status == reduced.solver.status
    if full.solver.status == "optimal":
        assert math.isclose(full.objective_value(), reduced.objective_value(), rel_tol=1e-9)


@pytest.mark.parametrize("seed", sweep(range(16), 4))
def test_colgen_branches_unproven_nodes_exactly(seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """With pricing cut short (one knapsack node), nodes are branched unproven: still the optimum."""
    from accelplan.solvers import colgen

    monkeypatch.setattr(colgen, "PRICE_NODES_FIRST", 1)
    monkeypatch.setattr(colgen, "PRICE_NODES_MAX", 1)
    problem = _any_order(random_problem(seed, "throughput"))
    reference = solve(problem, "exhaustive")
    plan = solve(problem, "colgen", time_limit_s=30)
    assert plan.solver.status == reference.solver.status, (plan.solver, reference.solver)
    if reference.solver.status == "optimal":
        assert math.isclose(plan.objective_value(), reference.objective_value(), rel_tol=1e-6)


@pytest.mark.parametrize("go_on", [0.0, 1.0])
@pytest.mark.parametrize("seed", sweep(range(24), 6))
def test_colgen_target_search_variants_agree(seed: int, go_on: float, monkeypatch: pytest.MonkeyPatch) -> None:
    """Decisions that end at the first plan found (GO_ON 0) and decisions that go on below every plan found (GO_ON 1:
    the tree's target drops under the new incumbent, what it ruled out stays ruled out) prove the same optimum as
    the enumeration, with the aggregate branching (all accelerators, then per engine count) on every node."""
    from accelplan.solvers import colgen

    from conftest import agrees_with_exhaustive

    monkeypatch.setattr(colgen, "GO_ON", go_on)
    problem = _any_order(random_problem(seed, "throughput", layers=(3, 6)))
    agrees_with_exhaustive(problem, solve(problem, "colgen", time_limit_s=30), solve(problem, "exhaustive"))


@pytest.mark.parametrize("seed", sweep([9, 24, *(s for s in range(40) if s not in (9, 24))], 4))
def test_a_multiset_that_holds_a_plan_is_placed_again_below_it(seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """CP-SAT stops at its first placement within the target, not the multiset's best; the branching then excludes
    the multiset. When the tree goes on below the plan found (GO_ON 1), the multiset must first be placed again at
    the lower target. Here the tree does all the work (no price-and-branch, no contiguous start) and every first
    placement is any one within the target (CP-SAT's period held at the target, no local search, no bound
    claimed): the proof still matches the enumeration. Before the fix seeds 9 and 24 were proven 1.0 % and
    0.15 % below the optimum (the shipped tile-menu BERT-base at 1719.27 inferences/s, while 1720.30 exists)."""
    from dataclasses import replace as _replace

    from accelplan.formulations import packing
    from accelplan.solvers import colgen

    from conftest import agrees_with_exhaustive

    def any_within(classes, configs, limits, time_limit_s, workers=1, enough_us=None):
        if enough_us is None or enough_us < limits.floor_us:
            return packing.pack_cp(classes, configs, limits, time_limit_s, workers, enough_us)
        held = packing.pack_cp(classes, configs, _replace(limits, floor_us=enough_us), time_limit_s, workers,
                               enough_us)
        return packing.Packing(False, None if held.accelerators is None else held.period_us, held.accelerators)

    monkeypatch.setattr(colgen, "GO_ON", 1.0)
    monkeypatch.setattr(colgen, "pack_cp", any_within)
    monkeypatch.setattr(colgen, "improve", lambda classes, placed: tuple(placed))
    monkeypatch.setattr(colgen, "restricted_master", lambda *args: packing.Packing(False, None, None))
    monkeypatch.setattr(colgen, "contiguous_plans", lambda *args: [])
    problem = _any_order(random_problem(seed, "throughput", layers=(6, 9)))
    agrees_with_exhaustive(problem, solve(problem, "colgen", time_limit_s=30), solve(problem, "exhaustive"))


def _best_placement(classes, multiset, limits) -> float:
    """The shortest period of any placement of the classes on ``multiset`` within the limits, by enumeration."""
    t, q = classes.time, classes.count
    best = np.inf
    per_class = [[c for c in itertools.product(range(int(n) + 1), repeat=len(multiset)) if sum(c) == n] for n in q]
    for split in itertools.product(*per_class):
        busy = [sum(split[k][j] * t[k, c] for k in range(len(q))) for j, c in enumerate(multiset)]
        period = max(max(busy), limits.floor_us)
        if period > limits.cap_us * (1 + 1e-12):
            continue
        if limits.latency_us is not None and sum(busy) + (limits.batch - 1) * period > limits.latency_us * (1 + 1e-12):
            continue
        best = min(best, period)
    return best


@pytest.mark.parametrize("seed", range(30))
def test_placements_match_enumeration(seed: int) -> None:
    """CP-SAT and HiGHS place a multiset at its enumerated best period; their bounds never exceed it."""
    from accelplan.formulations.configuration_lp import TIME_SCALE, ClassTable
    from accelplan.formulations.packing import Limits, pack, pack_cp

    rng = random.Random(seed)
    problem = _any_order(random_problem(seed, "throughput"))
    classes = ClassTable.of(problem)
    multiset = tuple(sorted(rng.choices(range(problem.n_configs), k=rng.randint(1, 3))))
    loose = float(classes.time.max(axis=1) @ classes.count)
    cap = loose * rng.choice([0.2, 0.4, 0.7, 1.0])
    latency = loose * rng.choice([1.0, 4.0]) * problem.batch if rng.random() < 0.4 else None
    limits = Limits(problem.ddr_period_s * TIME_SCALE, cap, latency, problem.batch)
    best = _best_placement(classes, multiset, limits)
    for place in (pack_cp, pack):
        result = place(classes, multiset, limits, 10.0)
        assert result.proven
        if best == np.inf:
            assert result.accelerators is None and result.none_within(cap)
        else:
            assert result.bound_us <= best * (1 + 1e-9)
            assert result.none_within(best * (1 - 1e-6)) and not result.none_within(best)
            assert math.isclose(result.period_us, best, rel_tol=1e-6), (place.__name__, result, best)


def test_refusals_name_every_strategy_that_covers_the_problem() -> None:
    """dp on hybrid names colgen as well as milp and cpsat (issue 25, item 2): the list is the registry's, each
    named strategy solves the problem and each left out refuses it."""
    from accelplan.solvers.registry import STRATEGIES

    problem = variant(random_problem(3, "throughput"), execution="hybrid")
    with pytest.raises(SolveError) as refused:
        solve(problem, "dp")
    message = str(refused.value)
    named = message.split("strategies that cover this problem: ")[1]
    assert "colgen, milp, cpsat" in named and "auto picks colgen" in named and "optuna-tpe" in named
    for name, strategy in STRATEGIES.items():
        covers = strategy.reason(problem) is None
        assert (name in named.replace("auto picks colgen", "")) == covers, name


@pytest.mark.slow
def test_colgen_stops_at_its_proof_whatever_its_time_limit() -> None:
    """Once the incumbent is within the tolerance of the bound the search ends: the plan and the node count do not
    depend on the time limit (the colgen run of lns's first move on BERT-base was proven after 65 nodes in
    0.6 s and went on exploring until its 12 s were up, 1,704 nodes; a plan that depended on the clock made lns
    unrepeatable under load)."""
    from accelplan import api
    from accelplan.families import build_problem
    from accelplan.solvers.contiguous import best_contiguous
    from accelplan.solvers.lns import PipelineMoves

    problem = build_problem(api.make_study(model="bert-base", hardware="vck190", execution="hybrid", batch=16,
                                           max_accelerators=4))
    groups = best_contiguous(problem).groups
    moves = PipelineMoves()
    freed = next(moves.neighbourhoods(problem, groups, moves.first_size, random.Random(3)))
    window = moves.restrict(problem, groups, freed).problem
    short, long = (solve(window, "colgen", time_limit_s=limit) for limit in (6, 30))
    assert short.solver.status == long.solver.status == "optimal"
    assert short.solver.evaluations == long.solver.evaluations < 500
    assert plan_groups(window, short) == plan_groups(window, long)
