"""The anytime view: each strategy's best objective and bound over time, monotone, ending at what it reports."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from accelplan.cli import main
from accelplan.solvers import solve

from conftest import random_problem, sweep, variant


@pytest.mark.parametrize("seed", sweep(range(6), 2, heavy=(0,)))
def test_curves_are_monotone_and_end_at_the_reported_values(seed: int) -> None:
    base = random_problem(seed, "throughput")
    for strategy, execution in (("colgen", "hybrid"), ("milp", "hybrid"), ("cpsat", "hybrid"), ("dp", "spatial"),
                                ("optuna-tpe", "hybrid")):
        problem = variant(base, execution=execution)
        plan = solve(problem, strategy, time_limit_s=10, **({"trials": 30} if strategy == "optuna-tpe" else {}))
        curve = plan.solver.progress
        if plan.solver.objective is None:
            continue
        found = [p.objective for p in curve if p.objective is not None]
        bounds = [p.bound for p in curve if p.bound is not None]
        # throughput: the incumbent only improves and the bound only tightens (up to rounding)
        assert all(b >= a * (1 - 1e-9) for a, b in zip(found, found[1:])), (strategy, curve)
        assert all(b <= a * (1 + 1e-9) for a, b in zip(bounds, bounds[1:])), (strategy, curve)
        assert [p.seconds for p in curve] == sorted(p.seconds for p in curve)
        assert curve[-1].objective == plan.solver.objective and curve[-1].bound == plan.solver.bound
        assert all(b >= plan.solver.objective * (1 - 1e-9) for b in bounds)  # a bound never cuts the optimum


@pytest.mark.slow
def test_compare_writes_the_curves(study_file: Path, tmp_path: Path) -> None:
    assert main(["compare", str(study_file), "--strategies", "colgen,milp", "--time-limit", "10", "-o", str(tmp_path),
                 "--quiet"]) == 0
    out = tmp_path / "compare"
    rows = list(csv.DictReader((out / "anytime.csv").open()))
    assert {r["strategy"] for r in rows} == {"colgen", "milp"}
    final = {r["strategy"]: r for r in rows}  # the last point of each curve
    summary = {r["strategy"]: r for r in csv.DictReader((out / "compare.csv").open())}
    for name, row in final.items():
        assert float(row["objective"]) == float(summary[name]["objective"])
    assert (out / "anytime.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
