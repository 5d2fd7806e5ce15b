"""dp under a latency bound and with the latency objective (spatial plans): the pruning it adds drops labels and
moves, and the optimum stays the enumeration's."""

from __future__ import annotations

import pytest

from accelplan.solvers import dp, solve

from conftest import agrees_with_exhaustive, random_problem, variant


def _watched(monkeypatch) -> list:
    """Every dp label-search context built during a solve (its moves and the labels its bounds dropped)."""
    made: list = []
    init = dp._Bounded.__init__

    def record(self, *args, **kwargs):
        init(self, *args, **kwargs)
        made.append(self)

    monkeypatch.setattr(dp._Bounded, "__init__", record)
    return made


def _bounded(seed: int, fraction: float):
    """A random spatial problem (throughput) bounded at ``fraction`` of its unbounded optimum's latency."""
    free = variant(random_problem(seed, "throughput", layers=(5, 7)), execution="spatial", latency_max_s=None)
    best = solve(free, "exhaustive")
    return variant(free, latency_max_s=best.latency_ms / 1e3 * fraction)


@pytest.mark.parametrize("seed, fraction, expect", [(5, 0.95, "optimal"), (30, 0.9, "optimal"), (22, 0.99, "optimal"),
                                                    (12, 0.99, "infeasible")])
def test_bounded_throughput_prunes_and_agrees(monkeypatch, seed: int, fraction: float, expect: str) -> None:
    problem = _bounded(seed, fraction)
    made = _watched(monkeypatch)
    plan = solve(problem, "dp", time_limit_s=30)
    reference = solve(problem, "exhaustive")
    assert reference.solver.status == expect
    agrees_with_exhaustive(problem, plan, reference)
    assert made, "the label search ran"
    assert sum(b.dropped for b in made) > 0  # the rest-time bounds dropped labels
    every = problem.n_layers * (problem.n_layers + 1) // 2 * problem.n_configs
    assert made[0].moves.count() < every  # configurations dominated on a run of layers were dropped


def test_latency_objective_prunes_and_agrees(monkeypatch) -> None:
    problem = variant(random_problem(27, "latency", layers=(5, 7)), execution="spatial")
    assert problem.latency_max_s is not None and problem.batch > 1
    made = _watched(monkeypatch)
    plan = solve(problem, "dp", time_limit_s=30)
    agrees_with_exhaustive(problem, plan, solve(problem, "exhaustive"))
    assert made and sum(b.dropped for b in made) > 0
    every = problem.n_layers * (problem.n_layers + 1) // 2 * problem.n_configs
    assert made[0].moves.count() < every


@pytest.mark.parametrize("seed", range(300, 312))
@pytest.mark.parametrize("objective", ["throughput", "latency", "energy"])
def test_spatial_bounds_agree_with_enumeration(seed: int, objective: str) -> None:
    """Random spatial problems, each under a latency bound between its fastest and slowest one-accelerator plans."""
    problem = variant(random_problem(seed, objective, layers=(3, 6)), execution="spatial")
    agrees_with_exhaustive(problem, solve(problem, "dp", time_limit_s=30), solve(problem, "exhaustive"))


def test_pareto_min_culled_matches_pareto_min() -> None:
    import numpy as np

    from accelplan.dominance import pareto_min
    rng = np.random.default_rng(0)
    for trial in range(20):
        pts = rng.integers(0, 6, size=(rng.integers(600, 3000), 4)).astype(float)
        pts[:, -1] += rng.random(len(pts)) * (trial % 2)  # ties in the last column on even trials
        got = dp._pareto_culled(pts, deadline=float("inf"))
        want = pareto_min(pts)
        assert sorted(map(tuple, pts[got].tolist())) == sorted(map(tuple, pts[want].tolist()))


@pytest.mark.slow
def test_deit_tiny_spatial_under_a_latency_bound() -> None:
    """The case that stopped at the time limit after the richer vck190 menu (issue: bounded spatial solves)."""
    from accelplan import api
    from accelplan.families import build_problem
    problem = build_problem(api.make_study(model="deit-tiny", hardware="vck190", execution="spatial", batch=1,
                                           max_accelerators=6, latency_max_ms=1.75))
    plan = solve(problem, "dp", time_limit_s=120)
    assert plan.solver.status == "optimal"
    assert plan.latency_ms <= 1.75 * (1 + 1e-9)
    unbounded = solve(problem.with_latency_bound(None), "dp", time_limit_s=120)
    assert plan.throughput == pytest.approx(unbounded.throughput, rel=1e-9)  # the DDR period is met within 1.75 ms
