"""The ``milp`` strategy: the Pyomo formulation solved by HiGHS (through Pyomo's highspy interface).

The solve runs in rounds: each round builds the MILP with a MIP start (the best plan known so far,
first from the contiguous heuristic) and, for the throughput objective, the incumbent's period as
a cap that tightens the relaxation without cutting off any better plan. A round that improves the
incumbent without proving it optimal is followed by a tighter one until the time limit.
"""

from __future__ import annotations

import time

import numpy as np
from pyomo.contrib.solver.common.results import SolutionStatus, TerminationCondition
from pyomo.contrib.solver.solvers.highs import Highs

from ..formulations.milp import build_milp
from ..plan import Plan, SolverFacts, better, evaluate, infeasible_plan, relative_gap
from ..problem import Problem
from .contiguous import best_contiguous


class HighsWithStart(Highs):
    """Pyomo's HiGHS interface, handing HiGHS the variables' current values as a MIP start."""

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


def groups_of(problem: Problem, plan: Plan):
    """Groups (configuration index, layer indices) of an evaluated plan of ``problem``."""
    index = {layer.name: i for i, layer in enumerate(problem.layers)}
    labels = {cfg.label: c for c, cfg in enumerate(problem.configs)}
    return tuple((labels[a.config], tuple(index[n] for n in a.layers)) for a in plan.accelerators)


def _tighter(objective: str, a: float | None, b: float | None) -> float | None:
    """The stronger of two bounds (lower for throughput, higher for latency/energy)."""
    if a is None or b is None:
        return a if b is None else b
    return min(a, b) if objective == "throughput" else max(a, b)


def solve_milp(problem: Problem, time_limit_s: float = 60.0, threads: int | None = None) -> Plan:
    """Solve the MILP; return the best plan found with its proven bound and gap.

    Reported metrics come from :func:`~accelplan.plan.evaluate`; ``model_objective`` holds the
    MILP's own objective value so callers can check the two agree.
    """
    start = time.perf_counter()
    deadline = start + time_limit_s
    incumbent = best_contiguous(problem)
    bound: float | None = None
    model_objective: float | None = None
    status, message = "infeasible", ""
    options = {"mip_rel_gap": 1e-6, "random_seed": 0}
    if threads:
        options["threads"] = threads
    while True:
        built = build_milp(problem, incumbent.period_ms / 1e3 if incumbent is not None else None)
        solver = HighsWithStart()
        if incumbent is not None:
            built.start_values(groups_of(problem, incumbent))
            solver.use_start = True
        remaining = max(1.0, deadline - time.perf_counter())
        res = solver.solve(built.model, time_limit=remaining, load_solutions=False,
                           raise_exception_on_nonoptimal_result=False, solver_options=options)
        tc, ss = res.termination_condition, res.solution_status
        message = f"HiGHS: {tc.name}"
        if res.objective_bound is not None and np.isfinite(res.objective_bound):
            bound = _tighter(problem.objective, bound, built.to_objective_units(res.objective_bound))
        if tc in (TerminationCondition.provenInfeasible, TerminationCondition.infeasibleOrUnbounded):
            status = "infeasible"
            break
        improved = False
        if ss in (SolutionStatus.optimal, SolutionStatus.feasible):
            res.solution_loader.load_vars()
            plan = evaluate(problem, built.groups())
            if plan.feasible and (incumbent is None or not better(problem.objective, incumbent.objective_value(),
                                                                  plan.objective_value())):
                improved = incumbent is None or better(problem.objective, plan.objective_value(), incumbent.objective_value())
                incumbent = plan
                model_objective = built.to_objective_units(res.incumbent_objective)
        if tc == TerminationCondition.convergenceCriteriaSatisfied:
            status = "optimal"
            break
        status = "time_limit" if tc == TerminationCondition.maxTimeLimit else "feasible"
        if not improved or problem.objective != "throughput" or time.perf_counter() > deadline - 1.0:
            break
    elapsed = time.perf_counter() - start
    if incumbent is None:
        if status == "optimal":
            status = "infeasible"
        msg = "no plan meets the constraints" if status == "infeasible" else "no plan found within the time limit"
        return infeasible_plan(problem, SolverFacts("milp", status, None, bound, None, elapsed, message=msg))
    value = incumbent.objective_value()
    if status == "optimal":
        bound = value if bound is None else bound
    if model_objective is None:  # the MIP start was never improved on: its own value is the model's
        model_objective = value
    facts = SolverFacts("milp", status, value, bound, relative_gap(problem.objective, value, bound), elapsed,
                        message=message, model_objective=model_objective)
    return evaluate(problem, groups_of(problem, incumbent), facts)
