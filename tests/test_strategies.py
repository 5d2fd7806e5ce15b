"""Every strategy is a peer: exact ones agree with enumeration, heuristics never beat the optimum."""

from __future__ import annotations

import math

import optuna
import pytest

from accelplan.dominance import pareto_min
from accelplan.errors import SolveError
from accelplan.plan import evaluate, plan_groups
from accelplan.solvers import solve
from accelplan.solvers import STRATEGIES
from accelplan.solvers.search import feasible_trials, pareto_trials, run_search

from conftest import agrees_with_exhaustive, random_problem, sweep, variant


def _close(a: float, b: float, rel: float = 1e-6) -> bool:
    return math.isclose(a, b, rel_tol=rel, abs_tol=1e-12)


def _agree(problem, reference, plan) -> None:
    agrees_with_exhaustive(problem, plan, reference)
    if plan.solver.status == "optimal":
        assert plan.solver.gap == 0.0


@pytest.mark.parametrize("seed", sweep(range(200, 250), 4, heavy=(210,)))
@pytest.mark.parametrize("objective", ["throughput", "latency", "energy"])
def test_exact_strategies_agree(seed: int, objective: str) -> None:
    problem = random_problem(seed, objective)
    reference = solve(problem, "exhaustive")
    assert reference.solver.status in ("optimal", "infeasible")
    _agree(problem, reference, solve(problem, "cpsat", time_limit_s=30))
    if objective == "throughput":
        _agree(problem, reference, solve(problem, "milp", time_limit_s=30))
    if STRATEGIES["dp"].reason(problem) is None:
        _agree(problem, reference, solve(problem, "dp", time_limit_s=30))
    else:  # dp refuses hybrid studies, and is exact on their contiguous (spatial) version
        with pytest.raises(SolveError, match="contiguous"):
            solve(problem, "dp")
        spatial = variant(problem, execution="spatial")
        _agree(spatial, solve(spatial, "exhaustive"), solve(spatial, "dp", time_limit_s=30))


@pytest.mark.parametrize("seed", sweep(range(300, 312), 3))
def test_optuna_never_beats_the_optimum(seed: int) -> None:
    problem = random_problem(seed, "throughput")
    optimum = solve(problem, "exhaustive")
    for strategy in ("optuna-tpe", "optuna-nsga2"):
        plan = solve(problem, strategy, seed=seed, trials=40, warm_start=False)
        assert plan.solver.status in ("feasible", "time_limit")
        assert plan.solver.evaluations == 40
        if plan.accelerators:
            assert plan.feasible
            assert optimum.solver.status == "optimal"
            assert plan.objective_value() <= optimum.objective_value() * (1 + 1e-9)
            again = evaluate(problem, plan_groups(problem, plan))
            assert again.objective_value() == plan.objective_value() and again.latency_ms == plan.latency_ms


def test_optuna_is_seeded() -> None:
    problem = random_problem(301, "latency")
    a = solve(problem, "optuna-tpe", seed=5, trials=25, warm_start=False)
    b = solve(problem, "optuna-tpe", seed=5, trials=25, warm_start=False)
    assert plan_groups(problem, a) == plan_groups(problem, b)


def test_optuna_trials_carry_the_evaluators_constraints() -> None:
    problem = random_problem(9, "throughput")  # hybrid, 5 configurations (seed 8 has one since dominated ones go)
    tight = problem.with_latency_bound(float(problem.time_s.min(axis=1).sum()) * problem.batch * 1.05)
    study, _ = run_search(tight, False, seed=0, trials=30, warm_start=False)
    evaluator_feasible = set()
    for trial in study.trials:
        plan = evaluate(tight, tuple((c, tuple(ls)) for c, ls in trial.user_attrs["groups"]))
        feasible = all(v <= 1e-9 for v in trial.constraints.values())
        assert feasible == plan.feasible, (trial.constraints, plan.violations)
        if plan.feasible:
            evaluator_feasible.add(trial.number)
    # the tight latency bound splits the trials: both kinds occur, so the comparison above checks something
    assert 0 < len(evaluator_feasible) < len(study.trials)
    # feasible_trials keeps exactly the trials the evaluator calls feasible (no infeasible one, none dropped)
    assert {t.number for t in feasible_trials(study)} == evaluator_feasible


def test_interrupted_search_resumes_from_sqlite(tmp_path) -> None:
    problem = random_problem(5, "throughput")
    url = f"sqlite:///{tmp_path / 'search.db'}"

    def interrupt_after_seven(study, trial):
        if trial.number == 6:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        solve(problem, "optuna-tpe", trials=100, storage=url, study_name="s", callbacks=[interrupt_after_seven])
    first = optuna.load_study(study_name="s", storage=url)
    finished = {t.number: t.values for t in first.trials if t.state == optuna.trial.TrialState.COMPLETE}
    assert sorted(finished) == list(range(7))
    plan = solve(problem, "optuna-tpe", trials=5, storage=url, study_name="s")
    resumed = optuna.load_study(study_name="s", storage=url)
    done = {t.number: t.values for t in resumed.trials if t.state == optuna.trial.TrialState.COMPLETE}
    assert len(done) == 12 and all(done[n] == v for n, v in finished.items())
    assert plan.solver.evaluations == 12
    # the resumed plan is at least as good as every trial of the interrupted run
    assert all(plan.objective_value() >= v[0] * (1 - 1e-12) for n, v in finished.items()
               if all(c <= 1e-9 for c in first.trials[n].constraints.values()))
    with pytest.raises(SolveError, match="another problem"):
        solve(variant(problem, objective="latency"), "optuna-tpe", trials=1, storage=url, study_name="s")


def test_nsga2_front_is_non_dominated() -> None:
    problem = random_problem(11, "throughput", layers=(4, 5))
    study, _ = run_search(problem, True, seed=1, trials=60, warm_start=False)
    front = pareto_trials(study)
    assert front
    keys = [(t.user_attrs["latency_ms"], -t.user_attrs["throughput"], t.user_attrs["energy_mj"]) for t in front]
    for k in keys:
        assert not any(all(o <= s for o, s in zip(other, k)) and other != k for other in keys)


def test_pareto_min_matches_pairwise_definition() -> None:
    import numpy as np
    rng = np.random.default_rng(0)
    for size in (1, 5, 300, 700):
        pts = rng.integers(0, 6, size=(size, 3)).astype(float)
        kept = set(pareto_min(pts, block=64).tolist())
        for i, p in enumerate(pts):
            beaten = any(np.all(q <= p) and (np.any(q < p) or j < i) for j, q in enumerate(pts) if j != i)
            assert (i not in kept) == beaten
