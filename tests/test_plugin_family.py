"""A third hardware family joins through its own module and one registry line (tests/toy_family.py);
every exact strategy that declares its plans solves it and agrees with exhaustive enumeration."""

from __future__ import annotations

import random

import pytest

from accelplan import api, families
from accelplan.errors import SpecError
from accelplan.families import build_problem
from accelplan.solvers import STRATEGIES, solve

import toy_family
from conftest import agrees_with_exhaustive, sweep


@pytest.fixture(autouse=True, scope="module")
def toy_registered():
    families.register(toy_family.FAMILY)  # the one registry line
    yield
    families.unregister(toy_family.FAMILY.name)


def _files(tmp_path, seed: int):
    rng = random.Random(seed)
    hw = tmp_path / f"toy{seed}.yaml"
    hw.write_text(f"name: toy{seed}\nfamily: toy-units\nunits: {rng.randint(3, 6)}\nmacs_per_cycle: 8\n"
                  f"clock_hz: 1000000\noverhead_cycles: {rng.choice([0, 50, 400])}\nunit_power_w: 0.5\n"
                  f"static_power_w: {rng.choice([0.0, 2.0])}\n")
    layers = "\n".join(f"  - {{name: l{i}, kind: linear, m: {rng.choice([8, 16, 64])}, k: {rng.choice([16, 64, 128])}, "
                       f"n: {rng.choice([8, 32, 96])}}}" for i in range(rng.randint(2, 5)))
    model = tmp_path / f"m{seed}.yaml"
    model.write_text(f"name: m{seed}\ndtype: int8\nbatch: {rng.choice([1, 4])}\noperators:\n{layers}\n")
    return model, hw


@pytest.mark.parametrize("seed", sweep(range(4), 1))
def test_exact_strategies_agree_with_enumeration_on_the_toy_family(tmp_path, seed):
    model, hw = _files(tmp_path, seed)
    study = api.make_study(model=str(model), hardware=str(hw))
    solved = 0
    for execution in ("one", "chain", "free"):
        for objective in ("throughput", "latency", "energy"):
            problem = build_problem(study, execution=execution, objective=objective)
            reference = solve(problem, "exhaustive", time_limit_s=60)
            assert reference.solver.status == "optimal"
            for strategy in STRATEGIES.values():
                if not strategy.exact or strategy.name == "exhaustive" or strategy.reason(problem):
                    continue
                plan = solve(problem, strategy.name, time_limit_s=60)
                assert plan.family == "toy-units" and plan.feasible
                agrees_with_exhaustive(problem, plan, reference)  # certified on the schedule where re-entrant
                solved += 1
    assert solved >= 9 * 2  # dp covers one and chain, milp and cpsat all three


def test_the_toy_family_is_listed_and_its_execution_models_checked(tmp_path):
    model, hw = _files(tmp_path, 0)
    assert "toy-units" in families.names()
    with pytest.raises(SpecError, match="valid: one, chain, free"):
        api.make_study(model=str(model), hardware=str(hw), execution="hybrid")
    study = api.make_study(model=str(model), hardware=str(hw))
    assert study.strategy == "dp" and study.execution == "free"
    result = api.plan_study(study, strategy="milp", time_limit_s=30)
    assert result.plan.solver.status == "optimal"
    written = api.write_outputs(result, tmp_path / "out")
    assert all(p.stat().st_size > 0 for p in written)
    assert "accelerators" in (tmp_path / "out" / "report.md").read_text()


def test_an_unknown_family_names_the_known_ones(tmp_path):
    hw = tmp_path / "x.yaml"
    hw.write_text("name: x\nfamily: quantum\n")
    with pytest.raises(SpecError, match="unknown hardware family 'quantum'; valid: versal-aie, mcm"):
        api.make_study(model="deit-tiny", hardware=str(hw))
