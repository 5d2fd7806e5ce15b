"""dp and exhaustive on replicated plans (:mod:`accelplan.execution.replicated`).

``dp``: a replicated plan's period, latency and energy per input never grow with the number of
replicas, so the best plan of one configuration is its most replicas that fit (the dp's state per
configuration holds one label); the optimum is the best of those, one pass over the menu.
``exhaustive``: every (configuration, replicas) pair, each priced by the evaluator; the reference.
"""

from __future__ import annotations

import time

from ..execution.replicated import ReplicaGroup, most_replicas
from ..plan import Outcome, metrics
from ..problem import Problem


def _best(problem: Problem, candidates, deadline: float) -> Outcome:
    """The best feasible candidate; ``optimal`` when every one was priced before ``deadline``."""
    best, value, priced = None, None, 0
    for groups in candidates:
        if time.perf_counter() > deadline:
            return Outcome(best, "time_limit", evaluations=priced, model_objective=value)
        priced += 1
        met = metrics(problem, groups)
        if met.violations:
            continue
        v = met.objective_value(problem.objective)
        if value is None or problem.objective.better(v, value):
            best, value = groups, v
    if best is None:
        return Outcome(None, "infeasible", evaluations=priced, note="no configuration fits one replica within the bounds")
    return Outcome(best, "optimal", evaluations=priced, model_objective=value)


def solve_dp(problem: Problem, time_limit_s: float, seed: int, options: dict) -> Outcome:
    """The most replicas of each configuration, the best of them (see the module docstring)."""
    candidates = ((ReplicaGroup(c, k),) for c in range(problem.n_configs) if (k := most_replicas(problem, c)) > 0)
    return _best(problem, candidates, time.perf_counter() + time_limit_s)


def solve_exhaustive(problem: Problem, time_limit_s: float, seed: int, options: dict) -> Outcome:
    """Every configuration with every count of replicas up to the accelerator limit."""
    candidates = ((ReplicaGroup(c, k),) for c in range(problem.n_configs) for k in range(1, problem.accelerator_slots + 1))
    return _best(problem, candidates, time.perf_counter() + time_limit_s)
