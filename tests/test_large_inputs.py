"""Long layer chains run in linear memory: the contiguous heuristic's fallback split, dp's refusal past its table."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from accelplan.errors import SolveError
from accelplan.plan import evaluate
from accelplan.solvers import contiguous, solve

from conftest import random_problem, variant


def test_greedy_split_gives_feasible_contiguous_plans(monkeypatch) -> None:
    """With the (layers+1)^2 table ruled out, the heuristic still returns feasible plans, never worse than none."""
    exact, greedy = [], []
    for seed in range(20):
        problem = variant(random_problem(seed, "throughput", layers=(4, 8)), execution="spatial")
        exact.append(contiguous.best_contiguous(problem))
        with monkeypatch.context() as m:
            m.setattr(contiguous, "MAX_SPAN", 0)
            greedy.append(contiguous.best_contiguous(problem))
        if greedy[-1] is not None:
            plan = evaluate(problem, greedy[-1].groups)
            assert plan.feasible and all(list(ls) == list(range(ls[0], ls[-1] + 1)) for _, ls in greedy[-1].groups)
    found = sum(g is not None for g in greedy)
    assert found >= 0.75 * sum(e is not None for e in exact) and found > 0


def test_dp_refuses_chains_past_its_stage_table() -> None:
    problem = variant(random_problem(1, "throughput"), execution="spatial")
    long = replace(problem, layers=problem.layers * 3000, time_s=np.tile(problem.time_s, (3000, 1)),
                   energy_j=np.tile(problem.energy_j, (3000, 1)))
    with pytest.raises(SolveError, match=r"dp's target search compares every stage time: .*strategies that cover this problem: .*milp"):
        solve(long, "dp")
