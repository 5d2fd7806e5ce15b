"""The ``milp`` strategy on segment plans (chiplet packages): the segment MILP of
:mod:`accelplan.formulations.segments_milp`, solved by HiGHS in one round, started from the plan that gives
every layer the whole package."""

from __future__ import annotations

import time

from pyomo.contrib.solver.common.results import TerminationCondition

from ..execution.segments import SegmentGroup
from ..formulations.segments_milp import build_segments_milp
from ..plan import Outcome, evaluate
from ..problem import Problem
from .milp import INFEASIBLE, HighsWithStart, _solve_round, highs_options


def solve_segments(problem: Problem, time_limit_s: float, seed: int, options: dict) -> Outcome:
    """The segment MILP in one HiGHS round."""
    return _solve_segments(problem, time.perf_counter() + time_limit_s, highs_options(seed, options))


def _solve_segments(problem: Problem, deadline: float, options: dict) -> Outcome:
    """The segment MILP, one HiGHS round from the plan that gives every layer the whole package (always fits)."""
    full = max(range(problem.n_configs), key=lambda c: problem.configs[c].units)
    first_groups = tuple(SegmentGroup(full, (l,), l) for l in range(problem.n_layers))
    first = evaluate(problem, first_groups)
    built = build_segments_milp(problem, reference=first.latency_ms / 1e3)
    r = _solve_round(HighsWithStart(), built, deadline - time.perf_counter(), options,
                     first_groups if first.feasible else None)
    user = problem.objective.from_batch
    bound = user(problem.batch, built.to_objective_units(r.raw_bound)) if r.raw_bound is not None else None
    proven = r.termination == TerminationCondition.convergenceCriteriaSatisfied
    note = "HiGHS via Pyomo, segment MILP"
    if r.found is None:
        return Outcome(None, "infeasible" if r.termination in INFEASIBLE or proven else "time_limit", bound, note=note)
    return Outcome(r.found.groups, "optimal" if proven else "time_limit", bound, note=note,
                   model_objective=user(problem.batch, r.model_objective))
