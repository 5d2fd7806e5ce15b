"""The ``milp`` strategy on device chains: the device-chain MILP of :mod:`accelplan.formulations.devices_milp`,
solved by HiGHS in one round, for every objective."""

from __future__ import annotations

import time

import numpy as np
from pyomo.contrib.solver.common.results import SolutionStatus, TerminationCondition
from pyomo.contrib.solver.solvers.highs import Highs

from ..execution.devices import block_options
from ..formulations.devices_milp import build_devices_milp
from ..plan import Outcome, evaluate
from ..problem import Problem
from .milp import INFEASIBLE, highs_options, translated


def solve_devices(problem: Problem, time_limit_s: float, seed: int, options: dict) -> Outcome:
    """The device-chain MILP in one HiGHS round."""
    return _solve_devices(problem, time.perf_counter() + time_limit_s, highs_options(seed, options))


def _solve_devices(problem: Problem, deadline: float, options: dict) -> Outcome:
    """The device-chain MILP (:mod:`accelplan.formulations.devices_milp`), one HiGHS round, every objective."""
    built = build_devices_milp(problem, [block_options(problem, l) for l in range(problem.n_layers)])
    note = "HiGHS via Pyomo, device-chain MILP"
    solver = Highs()
    left = translated(solver, built.model, deadline)
    if left is None:
        return Outcome(None, "time_limit", None, note=note + ": the time limit passed while the model was built")
    res = solver.solve(built.model, time_limit=left, load_solutions=False,
                       raise_exception_on_nonoptimal_result=False, solver_options=options)
    proven = res.termination_condition == TerminationCondition.convergenceCriteriaSatisfied
    bound = (built.to_objective_units(res.objective_bound)
             if res.objective_bound is not None and np.isfinite(res.objective_bound) else None)
    groups, model_obj = None, None
    if res.termination_condition not in INFEASIBLE and res.solution_status in (SolutionStatus.optimal, SolutionStatus.feasible):
        res.solution_loader.load_vars()
        if evaluate(problem, built.groups()).feasible:
            groups, model_obj = built.groups(), built.to_objective_units(res.incumbent_objective)
    if groups is None:
        return Outcome(None, "infeasible" if res.termination_condition in INFEASIBLE or proven else "time_limit", bound,
                       note=note)
    return Outcome(groups, "optimal" if proven else "time_limit", bound, note=note, model_objective=model_obj)
