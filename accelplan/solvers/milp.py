"""The ``milp`` strategy: the Pyomo formulation solved by HiGHS (through Pyomo's highspy interface).

For the throughput objective the solve is a *target search* on the period, with one persistent
model whose cap is changed between rounds:

1. the contiguous heuristic gives an incumbent (period ``U``) and the model is built capped at ``U``;
2. bisection on the cap with the LP relaxation raises the proven lower bound ``L`` (an LP that is
   infeasible under cap ``X`` proves no plan has a period <= ``X``; a feasible one bounds the
   period of plans under ``X`` from below by its optimum); spatial plans are hybrid plans too, so
   they are bounded with the hybrid model's stronger relaxation;
3. MILP rounds: capped at ``U`` with the incumbent as MIP start, and, when a round ends early
   without progress, a dive capped half-way between ``L`` and ``U`` (infeasible raises ``L``; a
   plan lowers ``U``; an optimum under any cap that holds a plan is the global optimum).
Other objectives are solved in one round with the heuristic's plan as MIP start.

This is the pipeline form's milp; the other forms' are :mod:`.milp_segments` and :mod:`.milp_devices`, which
share :func:`highs_options` and the HiGHS interface here.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import pyomo.environ as pyo
from pyomo.contrib.solver.common.results import SolutionStatus, TerminationCondition
from pyomo.contrib.solver.solvers.highs import Highs

from ..formulations.milp import TIME_SCALE, MilpModel, build_milp
from ..plan import Anytime, Groups, Outcome, evaluate
from ..problem import Problem
from .contiguous import Candidate, best_contiguous

INFEASIBLE = (TerminationCondition.provenInfeasible, TerminationCondition.infeasibleOrUnbounded)


class HighsWithStart(Highs):
    """Pyomo's persistent HiGHS interface, handing HiGHS the variables' current values as a MIP start."""

    use_start = False
    loaded: object = None  # the model set_instance translated


def translated(solver: Highs, model: object, deadline: float) -> float | None:
    """Translate ``model`` for HiGHS now (Pyomo's ``set_instance``: seconds on large models, outside HiGHS's clock) and
    return the time left for HiGHS until ``deadline`` [s]; None when none is left (issue 25, item 4: a limit of
    15 s ran to 24.6 s when HiGHS was given its whole limit after the translation)."""
    if getattr(solver, "loaded", None) is not model:
        solver.set_instance(model)
        solver.loaded = model
    left = deadline - time.perf_counter()
    return left if left > 0.05 else None

    def _solve(self):
        var_map = getattr(self, "_pyomo_var_to_solver_var_map", None)
        if self.use_start and var_map is not None:
            cols, vals = [], []
            for var_id, col in var_map.items():
                var = self._vars[var_id][0]
                if var.value is not None:
                    cols.append(col)
                    vals.append(float(var.value))
            if cols:
                self._solver_model.setSolution(len(cols), np.array(cols, dtype=np.int32), np.array(vals, dtype=np.float64))
        return super()._solve()


@dataclass(frozen=True)
class Round:
    """One HiGHS run: its termination, the feasible plan it found (None: none), the model's objective, its bound."""

    termination: TerminationCondition
    found: Candidate | None
    model_objective: float | None
    raw_bound: float | None


def _solve_round(solver: HighsWithStart, built: MilpModel, time_limit_s: float, options: dict,
                 start: Groups | None) -> Round:
    """One HiGHS run from the MIP start ``start`` (groups) when given."""
    deadline = time.perf_counter() + time_limit_s
    if start is not None:
        built.start_values(start)
    solver.use_start = start is not None
    left = translated(solver, built.model, deadline)
    if left is None:
        return Round(TerminationCondition.maxTimeLimit, None, None, None)
    res = solver.solve(built.model, time_limit=left, load_solutions=False,
                       raise_exception_on_nonoptimal_result=False, solver_options=options)
    found, model_obj = None, None
    if res.termination_condition not in INFEASIBLE and res.solution_status in (SolutionStatus.optimal, SolutionStatus.feasible):
        res.solution_loader.load_vars()
        groups = built.groups()
        candidate = evaluate(built.problem, groups)
        if candidate.feasible:
            found, model_obj = Candidate(groups, candidate), built.to_objective_units(res.incumbent_objective)
    bound = res.objective_bound if res.objective_bound is not None and np.isfinite(res.objective_bound) else None
    return Round(res.termination_condition, found, model_obj, bound)


def lp_lower_bound(built: MilpModel, low_s: float, high_s: float, until: float, iterations: int = 16) -> float:
    """A proven lower bound on the optimal period [s], by bisection on the cap with the LP relaxation."""
    relaxed = built.model.clone()
    pyo.TransformationFactory("core.relax_integer_vars").apply_to(relaxed)
    view = MilpModel(relaxed, built.problem, built.classes)
    lp = Highs()
    best = low_s
    for _ in range(iterations):
        if time.perf_counter() > until or high_s - low_s <= 1e-4 * high_s:
            break
        target = (low_s + high_s) / 2
        view.set_target(target)
        res = lp.solve(relaxed, load_solutions=False, raise_exception_on_nonoptimal_result=False)
        if res.termination_condition in INFEASIBLE:
            low_s = best = max(best, target)
        elif res.termination_condition == TerminationCondition.convergenceCriteriaSatisfied:
            best = max(best, res.incumbent_objective / TIME_SCALE)
            high_s = target
        else:
            break
    return best


def _trivial_lower_bound(problem: Problem) -> float:
    """Period bounds needing no solver [s]: DDR time, the slowest layer at its fastest, the work over all slots."""
    fastest = problem.time_s.min(axis=1)
    return max(problem.ddr_period_s, float(fastest.max()), float(fastest.sum()) / problem.accelerator_slots)


def _period(found: Candidate) -> float:
    return found.plan.period_ms / 1e3


def _target_search(problem: Problem, built: MilpModel, incumbent: Candidate, start: float, deadline: float,
                   options: dict) -> Outcome:
    """Throughput: bisection of the period between an LP-proven lower bound and the incumbent (module docstring)."""
    solver = HighsWithStart()
    model_objective = incumbent.plan.objective_value()
    upper = _period(incumbent)
    anytime = Anytime()
    anytime.note(1.0 / upper, None)
    # the order-free (hybrid) relaxation is the stronger LP and its bound holds for every execution model
    relaxed = build_milp(problem, upper, any_order=True) if problem.execution.contiguous and not problem.execution.single else built
    lower = lp_lower_bound(relaxed, _trivial_lower_bound(problem), upper, start + 0.15 * (deadline - start))
    status, dive = "time_limit", False
    while True:
        anytime.note(1.0 / upper, 1.0 / lower if lower > 0 else None)
        if upper - lower <= 1e-6 * upper:
            status = "optimal"
            break
        remaining = deadline - time.perf_counter()
        if remaining < 0.5:
            break
        target = lower + 0.5 * (upper - lower) if dive else upper
        built.set_target(target)  # the lower bound stays outside the model: as a cut it slowed HiGHS
        share = remaining if not dive else min(remaining, max(5.0, remaining / 2))
        r = _solve_round(solver, built, share, options, None if dive else incumbent.groups)
        progress = False
        if r.found is not None and _period(r.found) < upper * (1 - 1e-9):
            incumbent, model_objective, upper, progress = r.found, r.model_objective, _period(r.found), True
        elif r.found is not None and not dive:
            model_objective = r.model_objective
        if r.termination == TerminationCondition.convergenceCriteriaSatisfied and r.found is not None:
            status = "optimal"  # the optimum under a cap that holds a plan is the global optimum
            break
        if r.termination in INFEASIBLE:
            lower, progress = max(lower, target), True  # no plan with period <= target
        elif r.raw_bound is not None:
            lower = max(lower, min(r.raw_bound / TIME_SCALE, target))
        dive = not progress and not dive
    return Outcome(incumbent.groups, status, 1.0 / lower if lower > 0 else None,
                   note="HiGHS via Pyomo, target search on the period", model_objective=model_objective,
                   progress=anytime.curve)


def _one_round(problem: Problem, built: MilpModel, incumbent: Candidate | None, deadline: float,
               options: dict, note: str) -> Outcome:
    """Latency or energy (or throughput without an incumbent): one HiGHS round from the incumbent."""
    r = _solve_round(HighsWithStart(), built, deadline - time.perf_counter(), options,
                     incumbent.groups if incumbent is not None else None)
    model_objective = incumbent.plan.objective_value() if incumbent is not None else None
    if r.found is not None and (incumbent is None or not problem.objective.better(incumbent.plan.objective_value(),
                                                                                   r.found.plan.objective_value())):
        incumbent, model_objective = r.found, r.model_objective
    bound = built.to_objective_units(r.raw_bound) if r.raw_bound is not None else None
    proven = r.termination == TerminationCondition.convergenceCriteriaSatisfied
    if incumbent is None:
        status = "infeasible" if r.termination in INFEASIBLE or proven else "time_limit"
        return Outcome(None, status, bound, note=note)
    status = "optimal" if proven else ("time_limit" if r.termination == TerminationCondition.maxTimeLimit else "feasible")
    return Outcome(incumbent.groups, status, bound, note=note, model_objective=model_objective)


def highs_options(seed: int, options: dict) -> dict:
    """HiGHS's options for a run: the relative gap that counts as proven, the seed, the ``threads`` option."""
    highs = {"mip_rel_gap": 1e-6, "random_seed": seed}
    if options.get("threads"):
        highs["threads"] = options["threads"]
    return highs


def solve_milp(problem: Problem, time_limit_s: float, seed: int, options: dict) -> Outcome:
    """Solve the pipeline MILP with HiGHS.

    ``model_objective`` holds the MILP's own objective value so callers can check it agrees with the evaluator.
    """
    start = time.perf_counter()
    deadline = start + time_limit_s
    highs = highs_options(seed, options)
    incumbent = best_contiguous(problem)
    built = build_milp(problem, _period(incumbent) if incumbent is not None else None)
    if problem.objective == "throughput" and incumbent is not None:
        return _target_search(problem, built, incumbent, start, deadline, highs)
    return _one_round(problem, built, incumbent, deadline, highs, "HiGHS via Pyomo")
