"""The rows of a sweep, the best point per model and the Pareto front of hardware cost against throughput."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..dominance import pareto_min
from ..objective import objective as lookup_objective
from ..plan import Plan
from ..families import HardwareCost
from .cache import Outcome
from .spec import Param, SweepPoint


@dataclass(frozen=True)
class PointResult:
    """One solved point: its parameters, the facts of its solve, its hardware cost and plan."""

    id: str
    key: str
    params: tuple[Param, ...]
    model: str
    objective_name: str
    strategy: str
    status: str  # optimal | feasible | infeasible | time_limit, or unsupported (the strategy refused) | failed
    objective: float | None
    bound: float | None
    gap: float | None
    throughput: float | None
    latency_ms: float | None
    energy_mj: float | None
    solve_time_s: float
    cost: HardwareCost | None
    message: str
    cached: bool
    plan: Plan | None
    plan_yaml: str | None  # the plan file's text, when it was rendered for this point's run facts

    @property
    def feasible(self) -> bool:
        return self.plan is not None and self.plan.feasible

    @classmethod
    def of(cls, point: SweepPoint, outcome: Outcome, cached: bool, failed: bool = False) -> "PointResult":
        """The row of ``point`` from its outcome (``failed``: the cluster lost it, nothing was solved)."""
        plan, study = outcome.plan, point.study
        common = dict(id=point.id, key=point.key, params=point.params, model=study.model.name,
                      objective_name=study.spec.objective, strategy=point.strategy, cost=outcome.cost,
                      message=outcome.message, cached=cached, plan=plan,
                      plan_yaml=outcome.plan_yaml if outcome.run == point.run else None)
        if plan is None:
            return cls(**common, status="failed" if failed else "unsupported", objective=None, bound=None, gap=None,
                       throughput=None, latency_ms=None, energy_mj=None, solve_time_s=outcome.wall_s)
        s = plan.solver
        value = plan.objective_value() if plan.feasible else None
        return cls(**common, status=s.status, objective=value, bound=s.bound, gap=s.gap if plan.feasible else None,
                   throughput=plan.throughput if plan.feasible else None,
                   latency_ms=plan.latency_ms if plan.feasible else None,
                   energy_mj=plan.energy_mj if plan.feasible else None, solve_time_s=s.solve_time_s)


@dataclass(frozen=True)
class SweepResult:
    """Every point's row (in the sweep's order) and how the run went."""

    name: str
    file: str
    axes: tuple[str, ...]
    rows: tuple[PointResult, ...]
    computed: int  # points solved by this run
    cached: int  # points read from the cache
    workers: int
    scheduler: str  # the scheduler's address ("" for none: everything came from the cache)
    wall_s: float

    @property
    def found(self) -> bool:
        return any(r.feasible for r in self.rows)


def best_per_model(rows: Sequence[PointResult]) -> list[PointResult]:
    """Per model (and objective, when an axis varies it), the feasible row with the best objective, in row order."""
    best: dict[tuple[str, str], PointResult] = {}
    for row in rows:
        if not row.feasible or row.objective is None:
            continue
        group = (row.model, row.objective_name)
        if group not in best or lookup_objective(row.objective_name).better(row.objective, best[group].objective):
            best[group] = row
    return sorted(best.values(), key=lambda r: r.id)


def pareto_front(rows: Sequence[PointResult]) -> list[PointResult]:
    """Per model, the feasible rows that no other row beats or ties on both hardware cost (lower) and throughput
    (higher) (:func:`accelplan.dominance.pareto_min`), by model then cost."""
    front: list[PointResult] = []
    for model in dict.fromkeys(r.model for r in rows):
        candidates = [r for r in rows if r.model == model and r.feasible and r.cost is not None
                      and r.throughput is not None]
        if not candidates:
            continue
        points = np.array([[r.cost.value, -r.throughput] for r in candidates], dtype=float)
        keep = pareto_min(points)
        front += sorted((candidates[i] for i in keep), key=lambda r: (r.cost.value, -r.throughput))
    return front
