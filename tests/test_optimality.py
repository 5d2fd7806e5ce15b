"""Exact strategies agree with brute-force enumeration on random small instances."""

from __future__ import annotations

import math

import pytest

from accelplan.plan import evaluate, metrics, plan_groups
from accelplan.solvers import solve
from accelplan.solvers.exhaustive import partitions

from conftest import agrees_with_exhaustive, random_problem, sweep, variant


def _close(a: float, b: float, rel: float = 1e-6) -> bool:
    return math.isclose(a, b, rel_tol=rel, abs_tol=1e-12)


@pytest.mark.parametrize("seed", sweep(range(60), 6))
@pytest.mark.parametrize("objective", ["throughput", "latency"])
def test_milp_matches_exhaustive(seed: int, objective: str) -> None:
    problem = random_problem(seed, objective)
    agrees_with_exhaustive(problem, solve(problem, "milp", time_limit_s=30), solve(problem, "exhaustive"))


@pytest.mark.parametrize("seed", sweep(range(100, 115), 4))
def test_milp_matches_exhaustive_energy(seed: int) -> None:
    problem = random_problem(seed, "energy")
    reference = solve(problem, "exhaustive")
    milp = solve(problem, "milp", time_limit_s=30)
    assert milp.solver.status == reference.solver.status
    if reference.solver.status == "optimal":
        assert _close(milp.objective_value(), reference.objective_value())


def test_partitions_are_complete() -> None:
    # Bell numbers and compositions: the enumeration misses nothing and repeats nothing
    assert sum(1 for _ in partitions(5, 5, contiguous=False)) == 52
    assert sum(1 for _ in partitions(5, 2, contiguous=False)) == 1 + 15
    assert sum(1 for _ in partitions(5, 5, contiguous=True)) == 16
    assert sum(1 for _ in partitions(5, 2, contiguous=True)) == 1 + 4
    seen = {tuple(map(tuple, p)) for p in partitions(4, 4, contiguous=False)}
    assert len(seen) == 15


def test_exhaustive_optimum_is_best_of_every_plan() -> None:
    """Price every plan independently of the strategy and check none beats the reported optimum."""
    problem = random_problem(7, "throughput")
    best = solve(problem, "exhaustive")
    values = []
    for blocks in partitions(problem.n_layers, problem.accelerator_slots, problem.execution == "spatial"):
        for combo in __import__("itertools").product(range(problem.n_configs), repeat=len(blocks)):
            met = metrics(problem, tuple((c, tuple(b)) for c, b in zip(combo, blocks)))
            if not met.violations:
                values.append(met.objective_value("throughput"))
    assert values, "instance has feasible plans"
    assert _close(max(values), best.objective_value())


@pytest.mark.parametrize("seed", sweep(range(10), 3))
def test_execution_models_nest(seed: int) -> None:
    """hybrid >= spatial >= sequential on the same problem (each space contains the next)."""
    base = random_problem(seed, "throughput")
    values = {}
    for execution in ("sequential", "spatial", "hybrid"):
        plan = solve(variant(base, execution=execution), "milp")
        values[execution] = plan.objective_value() if plan.accelerators else 0.0
    assert values["hybrid"] >= values["spatial"] * (1 - 1e-9) >= values["sequential"] * (1 - 2e-9), values
