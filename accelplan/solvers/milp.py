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

On a chiplet package (mcm) the segment MILP of :mod:`accelplan.formulations.segments_milp` is
solved in one round, started from the plan that gives every layer the whole package.
"""

from __future__ import annotations

import time
from dataclasses import replace

import numpy as np
import pyomo.environ as pyo
from pyomo.contrib.solver.common.results import SolutionStatus, TerminationCondition
from pyomo.contrib.solver.solvers.highs import Highs

from ..errors import SolveError
from ..formulations.milp import TIME_SCALE, MilpModel, build_milp
from ..formulations.segments_milp import MAX_CLUSTERS, build_segments_milp, candidate_clusters
from ..plan import Plan, SolverFacts, batch_objective_value, better, evaluate, infeasible_plan, plan_groups, relative_gap
from ..problem import Problem
from .contiguous import best_contiguous

INFEASIBLE = (TerminationCondition.provenInfeasible, TerminationCondition.infeasibleOrUnbounded)


class HighsWithStart(Highs):
    """Pyomo's persistent HiGHS interface, handing HiGHS the variables' current values as a MIP start."""

    use_start = False

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


def _solve_round(solver: HighsWithStart, built: MilpModel, time_limit_s: float, options: dict,
                 start: Plan | None) -> tuple:
    """One HiGHS run; returns (termination, feasible plan or None, model objective, bound in model units)."""
    if start is not None:
        built.start_values(plan_groups(built.problem, start))
    solver.use_start = start is not None
    res = solver.solve(built.model, time_limit=max(1.0, time_limit_s), load_solutions=False,
                       raise_exception_on_nonoptimal_result=False, solver_options=options)
    plan, model_obj = None, None
    if res.termination_condition not in INFEASIBLE and res.solution_status in (SolutionStatus.optimal, SolutionStatus.feasible):
        res.solution_loader.load_vars()
        candidate = evaluate(built.problem, built.groups())
        if candidate.feasible:
            plan, model_obj = candidate, built.to_objective_units(res.incumbent_objective)
    bound = res.objective_bound if res.objective_bound is not None and np.isfinite(res.objective_bound) else None
    return res.termination_condition, plan, model_obj, bound


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


def solve_milp(problem: Problem, time_limit_s: float = 60.0, seed: int = 0, threads: int | None = None) -> Plan:
    """Solve the MILP; return the best plan found with its proven bound and gap.

    Reported metrics come from :func:`~accelplan.plan.evaluate`; ``model_objective`` holds the
    MILP's own objective value so callers can check the two agree.
    """
    start = time.perf_counter()
    deadline = start + time_limit_s
    options = {"mip_rel_gap": 1e-6, "random_seed": seed}
    if threads:
        options["threads"] = threads
    if problem.family == "mcm":
        return _solve_segments(problem, start, deadline, options)
    incumbent = best_contiguous(problem)
    model_objective = incumbent.objective_value() if incumbent is not None else None
    built = build_milp(problem, incumbent.period_ms / 1e3 if incumbent is not None else None)
    solver = HighsWithStart()
    status = "time_limit"
    bound: float | None = None

    if problem.objective == "throughput" and incumbent is not None:
        upper = incumbent.period_ms / 1e3
        # the order-free (hybrid) relaxation is the stronger LP and its bound holds for every execution model
        relaxed = built if problem.execution != "spatial" else build_milp(replace(problem, execution="hybrid"), upper)
        lower = lp_lower_bound(relaxed, _trivial_lower_bound(problem), upper, start + 0.15 * time_limit_s)
        dive = False
        while True:
            if upper - lower <= 1e-6 * upper:
                status = "optimal"
                break
            remaining = deadline - time.perf_counter()
            if remaining < 0.5:
                break
            target = lower + 0.5 * (upper - lower) if dive else upper
            built.set_target(target)  # the lower bound stays outside the model: as a cut it slowed HiGHS
            share = remaining if not dive else min(remaining, max(5.0, remaining / 2))
            tc, plan, model_obj, raw_bound = _solve_round(solver, built, share, options, None if dive else incumbent)
            progress = False
            if plan is not None and plan.period_ms / 1e3 < upper * (1 - 1e-9):
                incumbent, model_objective, upper, progress = plan, model_obj, plan.period_ms / 1e3, True
            elif plan is not None and not dive:
                model_objective = model_obj
            if tc == TerminationCondition.convergenceCriteriaSatisfied and plan is not None:
                status = "optimal"  # the optimum under a cap that holds a plan is the global optimum
                break
            if tc in INFEASIBLE:
                lower, progress = max(lower, target), True  # no plan with period <= target
            elif raw_bound is not None:
                lower = max(lower, min(raw_bound / TIME_SCALE, target))
            dive = not progress and not dive
        bound = 1.0 / lower if lower > 0 else None
    else:
        tc, plan, model_obj, raw_bound = _solve_round(solver, built, deadline - time.perf_counter(), options, incumbent)
        if plan is not None and (incumbent is None or not better(problem.objective, incumbent.objective_value(),
                                                                 plan.objective_value())):
            incumbent, model_objective = plan, model_obj
        if raw_bound is not None:
            bound = built.to_objective_units(raw_bound)
        if tc in INFEASIBLE and incumbent is None:
            status = "infeasible"
        elif tc == TerminationCondition.convergenceCriteriaSatisfied:
            status = "optimal" if incumbent is not None else "infeasible"
        elif tc != TerminationCondition.maxTimeLimit:
            status = "feasible"

    elapsed = time.perf_counter() - start
    if incumbent is None:
        msg = "no plan meets the constraints" if status == "infeasible" else "no plan found within the time limit"
        return infeasible_plan(problem, SolverFacts("milp", status, None, bound, None, elapsed, message=msg))
    value = incumbent.objective_value()
    if status == "optimal":
        bound = value
    facts = SolverFacts("milp", status, value, bound, relative_gap(problem.objective, value, bound), elapsed,
                        message="HiGHS via Pyomo" + (", target search on the period" if problem.objective == "throughput" else ""),
                        model_objective=model_objective)
    return evaluate(problem, plan_groups(problem, incumbent), facts)


def _solve_segments(problem: Problem, start: float, deadline: float, options: dict) -> Plan:
    """The segment MILP on a chiplet package, one HiGHS round; objectives throughput and latency."""
    if problem.objective == "energy":
        raise SolveError("milp on mcm covers the throughput and latency objectives (the weights' hops from DRAM "
                         "depend on where clusters sit, which the MILP does not track); use dp for energy")
    if candidate_clusters(problem) > MAX_CLUSTERS:
        raise SolveError(f"milp on mcm: {candidate_clusters(problem):,} candidate clusters exceed {MAX_CLUSTERS:,}; use dp")
    full = max(range(problem.n_configs), key=lambda c: problem.configs[c].units)
    first = evaluate(problem, tuple((full, (l,), l) for l in range(problem.n_layers)))  # always fits the package
    built = build_segments_milp(problem, reference=first.latency_ms / 1e3)
    tc, plan, model_obj, raw_bound = _solve_round(HighsWithStart(), built, deadline - time.perf_counter(), options,
                                                  first if first.feasible else None)

    def user(batch_time_s: float | None) -> float | None:
        return batch_objective_value(problem.objective, problem.batch, batch_time_s)

    bound = user(built.to_objective_units(raw_bound)) if raw_bound is not None else None
    elapsed = time.perf_counter() - start
    if plan is None:
        status = "infeasible" if tc in INFEASIBLE or tc == TerminationCondition.convergenceCriteriaSatisfied else "time_limit"
        msg = "no plan meets the constraints" if status == "infeasible" else "no plan found within the time limit"
        return infeasible_plan(problem, SolverFacts("milp", status, None, bound, None, elapsed, message=msg))
    status = "optimal" if tc == TerminationCondition.convergenceCriteriaSatisfied else "time_limit"
    value = plan.objective_value()
    bound = value if status == "optimal" else bound
    facts = SolverFacts("milp", status, value, bound, relative_gap(problem.objective, value, bound), elapsed,
                        message="HiGHS via Pyomo, segment MILP", model_objective=user(model_obj))
    return evaluate(problem, plan_groups(problem, plan), facts)
