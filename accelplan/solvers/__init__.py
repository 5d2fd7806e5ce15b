"""Strategies: each takes a :class:`~accelplan.problem.Problem` and returns a :class:`~accelplan.plan.Plan`."""

from __future__ import annotations

from typing import Callable

from ..errors import SolveError
from ..plan import Plan
from ..problem import Problem
from .exhaustive import solve_exhaustive
from .milp import solve_milp

Strategy = Callable[..., Plan]

STRATEGIES: dict[str, Strategy] = {"milp": solve_milp, "exhaustive": solve_exhaustive}


def solve(problem: Problem, strategy: str = "milp", time_limit_s: float = 60.0) -> Plan:
    """Solve ``problem`` with the named strategy within ``time_limit_s``."""
    try:
        run = STRATEGIES[strategy]
    except KeyError:
        raise SolveError(f"unknown strategy {strategy!r}; available: {', '.join(STRATEGIES)}") from None
    return run(problem, time_limit_s=time_limit_s)
