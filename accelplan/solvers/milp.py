"""The ``milp`` strategy: the Pyomo formulation solved by HiGHS (through Pyomo's highspy interface)."""

from __future__ import annotations

import time

import numpy as np
from pyomo.contrib.solver.common.results import SolutionStatus, TerminationCondition
from pyomo.contrib.solver.solvers.highs import Highs

from ..formulations.milp import build_milp
from ..plan import Plan, SolverFacts, evaluate, infeasible_plan, relative_gap
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


def solve_milp(problem: Problem, time_limit_s: float = 60.0, threads: int | None = None) -> Plan:
    """Build and solve the MILP; return the best plan found with its proven bound and gap.

    The reported metrics come from :func:`~accelplan.plan.evaluate`; the MILP's objective is
    checked to agree with them when the solve is optimal.
    """
    start = time.perf_counter()
    built = build_milp(problem)
    solver = HighsWithStart()
    start_plan = best_contiguous(problem)
    if start_plan is not None:
        built.start_values(_groups_of(problem, start_plan))
        solver.use_start = True
    options = {"mip_rel_gap": 1e-6, "random_seed": 0}
    if threads:
        options["threads"] = threads
    remaining = max(1.0, time_limit_s - (time.perf_counter() - start))
    res = solver.solve(built.model, time_limit=remaining, load_solutions=False,
                       raise_exception_on_nonoptimal_result=False, solver_options=options)
    elapsed = time.perf_counter() - start
    tc, ss = res.termination_condition, res.solution_status
    bound = built.to_objective_units(res.objective_bound) if res.objective_bound is not None else None
    has_solution = ss in (SolutionStatus.optimal, SolutionStatus.feasible)
    if tc in (TerminationCondition.provenInfeasible, TerminationCondition.infeasibleOrUnbounded) or not has_solution:
        status = "time_limit" if tc == TerminationCondition.maxTimeLimit else "infeasible"
        msg = "no plan meets the constraints" if status == "infeasible" else "no plan found within the time limit"
        return infeasible_plan(problem, SolverFacts("milp", status, None, bound, None, elapsed, message=msg))
    res.solution_loader.load_vars()
    groups = built.groups()
    status = "optimal" if tc == TerminationCondition.convergenceCriteriaSatisfied and ss == SolutionStatus.optimal else (
        "time_limit" if tc == TerminationCondition.maxTimeLimit else "feasible")
    plan = evaluate(problem, groups)
    value = plan.objective_value()
    if status == "optimal":
        bound = value if bound is None else bound
    facts = SolverFacts("milp", status, value, bound, relative_gap(problem.objective, value, bound), elapsed,
                        message=f"HiGHS: {tc.name}; MILP objective {built.to_objective_units(res.incumbent_objective):.6g}")
    return evaluate(problem, groups, facts)


def _groups_of(problem: Problem, plan: Plan):
    """Groups (configuration index, layer indices) of an evaluated plan of ``problem``."""
    index = {layer.name: i for i, layer in enumerate(problem.layers)}
    labels = {cfg.label: c for c, cfg in enumerate(problem.configs)}
    return tuple((labels[a.config], tuple(index[n] for n in a.layers)) for a in plan.accelerators)
