"""Strategies: each takes a :class:`~accelplan.problem.Problem` and returns a :class:`~accelplan.plan.Plan`.

Every strategy is a function ``(problem, time_limit_s=..., seed=..., **options) -> Plan``; the plan's
metrics come from the shared evaluator, its :class:`~accelplan.plan.SolverFacts` say how it was found.
"""

from __future__ import annotations

from typing import Any, Callable

from ..errors import SolveError
from ..plan import Plan
from ..problem import Problem
from .cpsat import solve_cpsat
from .dp import solve_dp
from .exhaustive import solve_exhaustive
from .milp import solve_milp
from .search import solve_nsga2, solve_tpe

Strategy = Callable[..., Plan]

STRATEGIES: dict[str, Strategy] = {
    "milp": solve_milp, "cpsat": solve_cpsat, "dp": solve_dp, "exhaustive": solve_exhaustive,
    "optuna-tpe": solve_tpe, "optuna-nsga2": solve_nsga2,
}

#: strategies whose "optimal" status is a proof (the others are heuristics)
EXACT = ("milp", "cpsat", "dp", "exhaustive")

#: strategies that model segments and clusters on a chiplet package (family mcm)
MCM_STRATEGIES = ("dp", "milp", "exhaustive", "optuna-tpe", "optuna-nsga2")


def solve(problem: Problem, strategy: str = "milp", time_limit_s: float = 60.0, seed: int = 0, **options: Any) -> Plan:
    """Solve ``problem`` with the named strategy within ``time_limit_s``; ``seed`` makes runs repeatable."""
    try:
        run = STRATEGIES[strategy]
    except KeyError:
        raise SolveError(f"unknown strategy {strategy!r}; available: {', '.join(STRATEGIES)}") from None
    if problem.family == "mcm" and strategy not in MCM_STRATEGIES:
        raise SolveError(f"{strategy} does not model segments and clusters on a chiplet package (mcm) yet; "
                         f"use {', '.join(MCM_STRATEGIES)}")
    return run(problem, time_limit_s=time_limit_s, seed=seed, **options)
