"""accelplan: exact and heuristic planning of DNN inference deployments on accelerators."""

from .api import Result, make_study, plan_study, write_outputs
from .errors import AccelplanError, SolveError, SpecError
from .plan import AcceleratorPlan, Plan, SolverFacts, evaluate
from .problem import Problem, build_problem

__version__ = "0.1.0"
__all__ = ["AcceleratorPlan", "AccelplanError", "Plan", "Problem", "Result", "SolveError", "SolverFacts", "SpecError",
           "build_problem", "evaluate", "make_study", "plan_study", "write_outputs"]
