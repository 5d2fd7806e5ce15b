"""The plan spaces Optuna samples (accelplan.solvers.spaces.PLAN_SPACES): every point is a plan within the budgets."""

from __future__ import annotations

import random

import numpy as np
import optuna
import pytest

from accelplan.execution.segments import layout_violations, rule_violations
from accelplan.plan import evaluate, metrics, plan_groups
from accelplan.solvers import solve
from accelplan.solvers.search import run_search, trial_groups
from accelplan.solvers.spaces import PlanPipelineSpace, PlanSegmentSpace, plan_space

from conftest import mcm_exhaustive, random_mcm_problem, random_problem


def _random_params(space, rng: random.Random) -> dict:
    """Parameters drawn uniformly from the space's distributions (one trial of a random sampler)."""
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=rng.randrange(2**31)))
    trial = study.ask()
    space.suggest(trial)
    return dict(trial.params)


@pytest.mark.parametrize("seed", range(40))
def test_every_pipeline_point_keeps_to_the_budgets(seed: int) -> None:
    """On random problems (any execution model) every sampled point is a valid plan within every budget; without a
    latency bound it is a feasible plan."""
    problem = random_problem(seed, "throughput", layers=(2, 9))
    space = plan_space(problem)
    assert isinstance(space, PlanPipelineSpace)
    if not (problem.usage <= problem.capacity * (1 + 1e-12)).all(axis=1).any():
        pytest.skip("no configuration fits the device alone: no plan is feasible")
    rng = random.Random(seed)
    for _ in range(25):
        groups = space.suggest(optuna.trial.FixedTrial(_random_params(space, rng)))
        assert sorted(l for g in groups for l in g.layers) == list(range(problem.n_layers))
        assert all(v <= 1e-9 for v in space.budget_values(groups).values())
        met = metrics(problem, groups, check_bounds=False)
        assert not [v for v in met.violations if "latency" not in v and "throughput" not in v], met.violations
        if problem.latency_max_s is None and problem.throughput_min is None:
            assert evaluate(problem, groups).feasible


@pytest.mark.parametrize("seed", range(30))
def test_every_segment_point_keeps_to_the_package(seed: int) -> None:
    """On random chiplet packages (every execution model) every sampled point is a feasible segment plan."""
    problem = random_mcm_problem(seed, "throughput", layers=(2, 9))
    space = plan_space(problem)
    assert isinstance(space, PlanSegmentSpace)
    rng = random.Random(seed)
    for _ in range(25):
        groups = space.suggest(optuna.trial.FixedTrial(_random_params(space, rng)))
        assert not layout_violations(problem, groups) and not rule_violations(problem, groups)
        assert all(v <= 1e-9 for v in space.budget_values(groups).values())
        assert evaluate(problem, groups).feasible


@pytest.mark.parametrize("seed", range(8))
def test_warm_plan_is_evaluated_as_given(seed: int) -> None:
    """The warm trial prices the warm plan itself, so the search never ends below it."""
    problem = random_problem(seed, "throughput", layers=(3, 7))
    space = plan_space(problem)
    warm = space.warm()
    if warm is None:
        pytest.skip("no contiguous plan")
    study, _ = run_search(problem, False, time_limit_s=30, seed=seed, trials=1)
    assert trial_groups(study.trials[0]) == tuple(tuple(int(v) if not isinstance(v, tuple) else v for v in g)
                                                  for g in warm)


@pytest.mark.parametrize("seed", range(1, 7))
def test_optuna_never_beats_the_segment_optimum(seed: int) -> None:
    optimum = mcm_exhaustive(seed, "throughput")
    problem = random_mcm_problem(seed, "throughput")
    for strategy in ("optuna-tpe", "optuna-nsga2"):
        plan = solve(problem, strategy, seed=seed, trials=30)
        assert plan.feasible
        assert optimum.solver.status == "optimal"
        assert plan.objective_value() <= optimum.objective_value() * (1 + 1e-9)


def test_segment_params_decode_to_the_same_segments() -> None:
    """The optimum's parameters (segment cuts, cluster counts) decode to a feasible plan with the same segments (the
    decoder sizes and cuts the clusters of each segment itself)."""
    for seed in range(6):
        problem = random_mcm_problem(seed, "throughput", execution="merged-pipeline")
        best = solve(problem, "dp", time_limit_s=30)
        assert best.solver.status == "optimal"
        space = plan_space(problem)
        groups = plan_groups(problem, best)
        decoded = space.suggest(optuna.trial.FixedTrial(space.params(groups)))
        # the same segments; the decoder's clusters within each may differ, never by much on these small packages
        assert {g.segment for g in decoded} == {g.segment for g in groups}
        assert evaluate(problem, decoded).feasible


def test_useful_configurations_include_each_layers_fastest_of_its_size() -> None:
    """The short list keeps, for every layer, the fastest configuration at each budget share."""
    from accelplan.solvers.spaces import _useful
    for seed in range(10):
        problem = random_problem(seed, "throughput", layers=(2, 6))
        keep = set(_useful(problem))
        share = (problem.usage / problem.capacity).max(axis=1)
        for l in range(problem.n_layers):
            for c in range(problem.n_configs):
                leaner_faster = [d for d in keep if share[d] <= share[c] and problem.time_s[l, d] <= problem.time_s[l, c]]
                assert leaner_faster, (seed, l, c)
        assert np.all(np.isfinite(share[list(keep)]))


@pytest.mark.parametrize("seed", range(20))
def test_any_plans_parameters_decode_to_a_plan(seed: int) -> None:
    """A plan on any configuration (useful or not: e.g. a warm start's) has parameters, and they decode to a plan
    within the budgets."""
    problem = random_problem(seed, "throughput", layers=(2, 6))
    space = plan_space(problem)
    rng = random.Random(seed)
    for c in range(problem.n_configs):
        layers = list(range(problem.n_layers))
        split = rng.randint(1, problem.n_layers) if problem.accelerator_slots > 1 else problem.n_layers
        groups = tuple(g for g in ((c, tuple(layers[:split])), (rng.randrange(problem.n_configs), tuple(layers[split:])))
                       if g[1])
        decoded = space.suggest(optuna.trial.FixedTrial(space.params(groups)))
        assert sorted(l for g in decoded for l in g.layers) == layers
        if (problem.usage <= problem.capacity * (1 + 1e-12)).all(axis=1).any():
            assert all(v <= 1e-9 for v in space.budget_values(decoded).values())
