"""Exact strategies certified on the schedule (accelplan.solvers.scheduled): a latency bound holds for the plan as it
runs, the relaxation behind the bound is valid for every dispatch, and a plan's recorded schedule is its latency."""

from __future__ import annotations

import random

import numpy as np
import pytest

from accelplan.execution.pipeline import DISPATCHES, PipelineGroup, batch_schedule, metrics, reentry
from accelplan.solvers import solve

from conftest import agrees_with_exhaustive, random_problem, sweep, variant


def _reentrant_problems(count: int, first_seed: int = 0):
    """Random hybrid problems (batch >= 2) whose throughput optimum is re-entrant, with that plan."""
    seed = first_seed
    while count:
        seed += 1
        base = random_problem(seed, "throughput", layers=(3, 6))
        if base.batch < 2:
            continue
        problem = variant(base, execution="hybrid", latency_max_s=None)
        plan = solve(problem, "exhaustive")
        if plan.feasible and plan.closed_form_latency_ms is not None:
            count -= 1
            yield seed, problem, plan


@pytest.mark.parametrize("index", sweep(range(5), 2))
def test_a_bound_between_closed_form_and_schedule_holds_as_the_plan_runs(index: int) -> None:
    """The bound sits between a re-entrant optimum's closed form and its schedule; every exact strategy's plan meets it
    as scheduled (before, they bounded the closed form and could return a plan whose batch ran past it), and agrees
    with the enumeration of every plan on its schedule."""
    seed, problem, free = list(_reentrant_problems(index + 1))[-1]
    low, high = sorted((free.latency_ms, free.closed_form_latency_ms))
    bounded = problem.with_latency_bound((low + high) / 2 / 1e3)
    reference = solve(bounded, "exhaustive")
    for strategy in ("colgen", "milp", "cpsat"):
        plan = solve(bounded, strategy, time_limit_s=30)
        if plan.feasible:
            assert plan.latency_ms <= bounded.latency_max_s * 1e3 * (1 + 1e-9), (seed, strategy, plan.solver)
        agrees_with_exhaustive(bounded, plan, reference)


def test_the_relaxation_holds_for_every_dispatch() -> None:
    """Its premises on random re-entrant plans, under each dispatch rule: a batch takes at least one input's chain
    (sum of stage times) and the busiest accelerator's work over the batch; and the rules' schedules run every
    (input, layer) once, one at a time per accelerator, each layer after its input's previous one."""
    rng = random.Random(3)
    checked = 0
    for seed in range(40):
        problem = random_problem(seed, "latency", layers=(3, 7))
        for _ in range(5):
            k = rng.randint(2, min(4, problem.n_layers))
            owner = [rng.randrange(k) for _ in range(problem.n_layers)]
            groups = tuple(PipelineGroup(rng.randrange(problem.n_configs), tuple(l for l, a in enumerate(owner) if a == g))
                           for g in range(k) if g in owner)
            if not reentry(problem, groups).returns:
                continue
            busy = metrics(problem, groups, check_bounds=False, schedule=False).busy_s
            for rule in DISPATCHES:
                sched = batch_schedule(problem, groups, rule)
                assert sched.makespan_s >= max(sum(busy), problem.batch * max(busy)) * (1 - 1e-12)
                assert sorted((r.input, r.layer) for r in sched.runs) == [
                    (i, l) for i in range(problem.batch) for l in range(problem.n_layers)]
                end = {(r.input, r.layer): r.end_s for r in sched.runs}
                assert all(r.start_s >= end[(r.input, r.layer - 1)] - 1e-15 for r in sched.runs if r.layer)
                for a in range(len(groups)):
                    mine = sorted((r.start_s, r.end_s) for r in sched.runs if r.accelerator == a)
                    assert all(b[0] >= e[1] - 1e-15 for e, b in zip(mine, mine[1:]))
                checked += 1
    assert checked > 100


def test_the_plan_records_its_schedule_and_dispatch() -> None:
    """A re-entrant plan's accelerators carry their runs, in run order, ending at the plan's latency (no DDR excess
    here), under the rule it names: the best of the rules."""
    seed, problem, plan = next(_reentrant_problems(1, first_seed=20))
    groups = tuple(PipelineGroup(c, ls) for c, ls in
                   ((next(i for i, cfg in enumerate(problem.configs) if cfg.label == a.config),
                     tuple(next(l for l, layer in enumerate(problem.layers) if layer.name == n) for n in a.layers))
                    for a in plan.accelerators))
    spans = {rule.name: batch_schedule(problem, groups, rule).makespan_s * 1e3 for rule in DISPATCHES}
    assert spans[plan.dispatch] == pytest.approx(min(spans.values()), rel=1e-12)
    excess = (problem.batch - 1) * (plan.period_ms - max(a.busy_ms for a in plan.accelerators))
    assert plan.latency_ms == pytest.approx(spans[plan.dispatch] + excess, rel=1e-12)
    for a in plan.accelerators:
        starts = [r[2] for r in a.schedule]
        assert starts == sorted(starts) and len(a.schedule) == problem.batch * len(a.layers)
    assert max(r[3] for a in plan.accelerators for r in a.schedule) == pytest.approx(spans[plan.dispatch], rel=1e-12)
    assert np.isfinite(plan.closed_form_latency_ms)
