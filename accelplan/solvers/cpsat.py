"""The ``cpsat`` strategy: the constraint program of :mod:`accelplan.formulations.cpsat` solved by OR-Tools CP-SAT.

The contiguous heuristic's plan caps stage times (throughput objective) and is handed to CP-SAT
as a hint. CP-SAT runs on every available core with the given seed. Its status maps to ours:
OPTIMAL -> optimal (up to the model's time resolution), FEASIBLE -> time_limit with its bound,
INFEASIBLE -> infeasible. Metrics always come from the shared evaluator.
"""

from __future__ import annotations

import os
import time

from ortools.sat.python import cp_model

from ..errors import SolveError
from ..formulations.cpsat import build_cpsat
from ..plan import Plan, SolverFacts, best_plan, evaluate, infeasible_plan, plan_groups, relative_gap
from ..problem import Problem
from .contiguous import best_contiguous


def solve_cpsat(problem: Problem, time_limit_s: float = 60.0, seed: int = 0, workers: int | None = None) -> Plan:
    """Solve with CP-SAT; return the best plan found with CP-SAT's proven bound and gap."""
    start = time.perf_counter()
    incumbent = best_contiguous(problem)
    built = build_cpsat(problem, incumbent.period_ms / 1e3 if incumbent is not None else None)
    if incumbent is not None:
        built.hint(plan_groups(problem, incumbent))
    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = max(0.1, time_limit_s - (time.perf_counter() - start))
    solver.parameters.num_workers = workers or max(1, os.cpu_count() or 1)
    solver.parameters.random_seed = seed
    code = solver.Solve(built.model)
    elapsed = time.perf_counter() - start
    if code == cp_model.MODEL_INVALID:
        raise SolveError(f"CP-SAT rejected the model: {built.model.Validate()}")
    plan, model_objective, bound = None, None, None
    if code in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        candidate = evaluate(problem, built.groups(solver))
        if candidate.feasible:
            plan, model_objective = candidate, built.to_objective_units(solver.ObjectiveValue())
        bound = built.to_objective_units(solver.BestObjectiveBound())
    plan = best_plan(problem.objective, [plan, incumbent])  # the heuristic may beat a time-limited CP-SAT incumbent
    if code == cp_model.INFEASIBLE or (code == cp_model.OPTIMAL and plan is None):
        return infeasible_plan(problem, SolverFacts("cpsat", "infeasible", None, None, None, elapsed,
                                                    message="no plan meets the constraints"))
    if plan is None:
        return infeasible_plan(problem, SolverFacts("cpsat", "time_limit", None, None, None, elapsed,
                                                    message="no plan found within the time limit"))
    value = plan.objective_value()
    status = "optimal" if code == cp_model.OPTIMAL else "time_limit"
    if status == "optimal":
        bound = value
    facts = SolverFacts("cpsat", status, value, bound, relative_gap(problem.objective, value, bound), elapsed,
                        evaluations=int(solver.NumBranches()),
                        message=f"OR-Tools CP-SAT, {solver.parameters.num_workers} workers, "
                                f"time unit {built.time_unit_s:.0e} s",
                        model_objective=model_objective)
    return evaluate(problem, plan_groups(problem, plan), facts)
