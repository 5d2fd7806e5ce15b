"""The replicated form (data-parallel replicas) on versal-aie and mcm: dp and exhaustive agree on random instances,
the figures follow the form's laws, and plans round-trip through plan files and the replay."""

from __future__ import annotations

import math

import pytest

from accelplan.cli import main
from accelplan.execution.replicated import ReplicaGroup, most_replicas
from accelplan.plan import evaluate, metrics, plan_groups
from accelplan.plan_file import read_plan
from accelplan.solvers import STRATEGIES, solve
from conftest import random_mcm_problem, random_problem, variant


def _versal(seed: int, objective: str):
    return variant(random_problem(seed, objective), execution="replicated", latency_max_s=None)


def _mcm(seed: int, objective: str):
    return random_mcm_problem(seed, objective, execution="replicated")


@pytest.mark.parametrize("objective", ["throughput", "latency", "energy"])
@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("make", [_versal, _mcm], ids=["versal-aie", "mcm"])
def test_dp_and_exhaustive_agree(make, seed: int, objective: str) -> None:
    problem = make(seed, objective)
    dp, every = solve(problem, "dp"), solve(problem, "exhaustive")
    assert dp.solver.status == every.solver.status == "optimal"
    assert dp.objective_value() == pytest.approx(every.objective_value(), rel=1e-12)
    assert every.solver.evaluations == problem.n_configs * problem.accelerator_slots  # every (configuration, count)


@pytest.mark.parametrize("seed", range(6))
def test_more_replicas_never_hurt_and_throughput_is_k_over_one(seed: int) -> None:
    problem = _versal(seed, "throughput")
    c = min(range(problem.n_configs), key=lambda i: problem.usage[i, 0])
    k_max = most_replicas(problem, c)
    one = float(problem.time_s[:, c].sum())
    previous = None
    for k in range(1, k_max + 1):
        met = metrics(problem, (ReplicaGroup(c, k),))
        assert not met.violations
        assert met.period_s == pytest.approx(max(one / k, problem.ddr_period_s))  # k / one, unless the DDR paces it
        assert met.latency_s == pytest.approx(max(math.ceil(problem.batch / k) * one,
                                                  one + (problem.batch - 1) * problem.ddr_period_s))
        if previous is not None:
            assert met.period_s <= previous.period_s and met.latency_s <= previous.latency_s
            assert met.energy_j <= previous.energy_j
        previous = met
    over = metrics(problem, (ReplicaGroup(c, k_max + 1),))
    assert over.violations  # one more replica breaks a budget or the accelerator limit


def test_the_shared_memory_floors_the_period() -> None:
    problem = _versal(3, "throughput")
    fast = problem.__class__(**{**problem.__dict__, "ddr_period_s": 1.0})  # a memory far slower than any replica
    plan = evaluate(fast, (ReplicaGroup(0, 1),))
    assert plan.period_ms == pytest.approx(1e3) and "memory" in plan.bottleneck


def test_only_declared_strategies_cover_it() -> None:
    problem = _versal(0, "throughput")
    covering = [s.name for s in STRATEGIES.values() if s.reason(problem) is None]
    assert covering == ["dp", "exhaustive"]
    assert "strategies that cover this problem: dp, exhaustive (exact; auto picks dp)" in STRATEGIES["milp"].reason(problem)


@pytest.mark.slow
@pytest.mark.parametrize("model, hardware", [("deit-tiny", "vck190"), ("resnet50", "mcm-16")])
def test_a_replicated_plan_round_trips_and_replays(tmp_path, model: str, hardware: str) -> None:
    out = tmp_path / "o"
    assert main(["solve", "--model", model, "--hardware", hardware, "--execution", "replicated", "--batch", "4",
                 "-o", str(out), "--quiet"]) == 0
    plan = read_plan(out / "solve" / "plan.yaml")
    assert plan.form == "replicated" and plan.solver.status == "optimal"
    assert len({a.config for a in plan.accelerators}) == 1 and all(len(a.layers) == len(plan.accelerators[0].layers)
                                                                   for a in plan.accelerators)
    assert main(["simulate", str(out / "solve" / "plan.yaml"), "-o", str(out), "--quiet"]) == 0
    text = (out / "simulate" / "simulate.md").read_text()
    assert "replicated" in text


def test_plan_groups_inverts_the_plan() -> None:
    problem = _mcm(2, "throughput")
    plan = solve(problem, "dp")
    assert plan_groups(problem, plan) == (ReplicaGroup(*plan_groups(problem, plan)[0]),)
    assert evaluate(problem, plan_groups(problem, plan)).objective_value() == plan.objective_value()
