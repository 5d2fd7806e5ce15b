"""The ``cpsat`` strategy: the constraint program of :mod:`accelplan.formulations.cpsat` solved by OR-Tools CP-SAT.

The contiguous heuristic's plan caps stage times (throughput objective) and is handed to CP-SAT
as a hint. CP-SAT runs on every available core with the given seed. Its status maps to ours:
OPTIMAL -> optimal (up to the model's time resolution), FEASIBLE -> time_limit with its bound,
INFEASIBLE -> infeasible. Metrics always come from the shared evaluator, also for the anytime curve:
each solution CP-SAT reports is priced and recorded when it beats the best so far, with CP-SAT's bound then.
"""

from __future__ import annotations

import os
import time

from ortools.sat.python import cp_model

from ..errors import SolveError
from ..formulations.cpsat import CpsatModel, build_cpsat
from ..plan import Anytime, Outcome, evaluate
from ..problem import Problem
from .contiguous import Candidate, best_candidate, best_contiguous


class _Curve(cp_model.CpSolverSolutionCallback):
    """Records the anytime curve: each CP-SAT solution priced by the evaluator, kept when it beats the best so far."""

    def __init__(self, built: CpsatModel, anytime: Anytime, best: float | None) -> None:
        super().__init__()
        self.built, self.anytime, self.best = built, anytime, best

    def on_solution_callback(self) -> None:
        problem = self.built.problem
        plan = evaluate(problem, self.built.groups(self))
        value = plan.objective_value() if plan.feasible else None
        if value is not None and (self.best is None or problem.objective.better(value, self.best)):
            self.best = value
        self.anytime.note(self.best, self.built.to_objective_units(self.BestObjectiveBound()))


def solve_cpsat(problem: Problem, time_limit_s: float, seed: int, options: dict) -> Outcome:
    """Solve with CP-SAT (``options``: ``workers``); the best groups found with CP-SAT's proven bound."""
    start = time.perf_counter()
    anytime = Anytime()
    incumbent = best_contiguous(problem)
    if incumbent is not None:
        anytime.note(incumbent.plan.objective_value(), None)
    built = build_cpsat(problem, incumbent.plan.period_ms / 1e3 if incumbent is not None else None)
    if incumbent is not None:
        built.hint(incumbent.groups)
    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = max(0.1, time_limit_s - (time.perf_counter() - start))
    solver.parameters.num_workers = options.get("workers") or max(1, os.cpu_count() or 1)
    solver.parameters.random_seed = seed
    code = solver.Solve(built.model, _Curve(built, anytime, incumbent.plan.objective_value() if incumbent else None))
    if code == cp_model.MODEL_INVALID:
        raise SolveError(f"CP-SAT rejected the model: {built.model.Validate()}")
    found, model_objective, bound = None, None, None
    if code in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        groups = built.groups(solver)
        if evaluate(problem, groups).feasible:
            found = Candidate(groups, evaluate(problem, groups))
            model_objective = built.to_objective_units(solver.ObjectiveValue())
        bound = built.to_objective_units(solver.BestObjectiveBound())
    best = best_candidate(problem, [c.groups for c in (found, incumbent) if c is not None])
    if best is not None and found is not None and best.groups != found.groups:
        model_objective = None  # the heuristic beat a time-limited CP-SAT incumbent
    note = f"OR-Tools CP-SAT, {solver.parameters.num_workers} workers, time unit {built.time_unit_s:.0e} s"
    if code == cp_model.INFEASIBLE or (code == cp_model.OPTIMAL and best is None):
        return Outcome(None, "infeasible", note=note)
    if best is None:
        return Outcome(None, "time_limit", note=note)
    return Outcome(best.groups, "optimal" if code == cp_model.OPTIMAL else "time_limit", bound,
                   int(solver.NumBranches()), note, model_objective, anytime.curve)
