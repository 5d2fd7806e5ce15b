"""HiGHS (through highspy/Pyomo) and OR-Tools (CP-SAT, GLOP) work in one process.

ortools 9.15 bundles HiGHS 1.12; highspy 1.15 exports clashing symbols, so pyproject pins
highspy < 1.15. This runs in a fresh interpreter so import order is what is tested.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

SCRIPT = r"""
import highspy, pyomo.environ as pyo
from ortools.sat.python import cp_model
from ortools.linear_solver import pywraplp
from pyomo.contrib.solver.solvers.highs import Highs

m = pyo.ConcreteModel()
m.x = pyo.Var(range(6), domain=pyo.Binary)
m.c = pyo.Constraint(expr=sum((i + 2) * m.x[i] for i in range(6)) <= 9)
m.o = pyo.Objective(expr=sum((i + 1) * m.x[i] for i in range(6)), sense=pyo.maximize)
r = Highs().solve(m)
highs_value = round(pyo.value(m.o))

cp = cp_model.CpModel()
x = [cp.NewBoolVar(f"x{i}") for i in range(6)]
cp.Add(sum((i + 2) * x[i] for i in range(6)) <= 9)
cp.Maximize(sum((i + 1) * x[i] for i in range(6)))
s = cp_model.CpSolver()
assert s.Solve(cp) == cp_model.OPTIMAL
glop = pywraplp.Solver.CreateSolver("GLOP")
y = glop.NumVar(0, 10, "y")
glop.Add(2 * y <= 7)
glop.Maximize(y)
assert glop.Solve() == pywraplp.Solver.OPTIMAL
print(highs_value, int(s.ObjectiveValue()), glop.Objective().Value())
"""


@pytest.mark.slow
def test_highs_and_ortools_in_one_process() -> None:
    for order in ("", "from ortools.sat.python import cp_model\n"):  # OR-Tools imported first, then last
        proc = subprocess.run([sys.executable, "-c", order + SCRIPT], capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr
        highs_value, cpsat_value, glop_value = proc.stdout.split()
        assert int(highs_value) == int(cpsat_value) == 7  # the knapsack's optimum (e.g. items 2 and 3)
        assert float(glop_value) == 3.5
