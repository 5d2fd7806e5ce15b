"""Runs over many solves: strategies compared on one problem, execution models compared on one
model and hardware, and latency-throughput Pareto fronts.

Each calls strategies only through :func:`accelplan.solvers.solve` and reads the plans they
return, so every strategy is measured with the same evaluator; problems come built (one per
execution model and objective), never modified but for the latency bound of a sweep.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from . import families
from .errors import SolveError
from .plan import Plan, evaluate
from .problem import Problem
from .solvers import STRATEGIES, auto, solve, strategy
from .plugins import resolve
from .solvers.registry import Feature, with_feature


@dataclass(frozen=True)
class ExecutionResult:
    """The best plan under one execution model, with its throughput relative to the family's pipeline baseline."""

    execution: str
    status: str
    throughput: float | None
    latency_ms: float | None
    energy_mj: float | None
    solve_time_s: float
    segments: int
    clusters: int
    baseline: str
    throughput_ratio: float | None  # throughput / the baseline execution's throughput
    message: str
    plan: Plan | None  # None when the strategy does not cover this execution model
    strategy: str = ""
    reference: str = ""  # the reference hardware whose plan this row is ("" for the study's own hardware)

    def to_dict(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k != "plan"}

    @property
    def folder(self) -> str:
        """Where the row's plan files go: its execution model, or ``reference-<hardware>``."""
        return f"reference-{self.reference}" if self.reference else self.execution


def compare_executions(problems: dict[str, Problem], strategy: str = "auto", time_limit_s: float = 60.0, seed: int = 0,
                       progress: Callable[[str], None] | None = None,
                       reference: Plan | None = None) -> list[ExecutionResult]:
    """Solve the same model and hardware under each execution model (``problems``: execution -> problem).

    ``strategy="auto"`` picks :func:`accelplan.solvers.auto` per execution model; a strategy that
    does not cover one gets an ``unsupported`` row saying why. Ratios are to the family's baseline
    execution model. A ``reference`` plan (the model on the study's reference hardware) is the last row.
    """
    family = families.get(next(iter(problems.values())).family)
    baseline = family.baseline_execution
    plans: dict[str, tuple[str, Plan | str]] = {}
    for execution in (m.name for m in family.executions if m.name in problems):
        if progress:
            progress(execution)
        name = auto(problems[execution]) if strategy == "auto" else strategy
        try:
            plans[execution] = (name, solve(problems[execution], name, time_limit_s=time_limit_s, seed=seed))
        except SolveError as exc:
            plans[execution] = (name, str(exc))
    base = plans.get(baseline, ("", None))[1]
    base_rate = base.throughput if isinstance(base, Plan) and base.feasible else None
    rows = []
    for e, (name, p) in plans.items():
        if not isinstance(p, Plan):
            rows.append(ExecutionResult(e, "unsupported", None, None, None, 0.0, 0, 0, baseline, None, p, None, name))
            continue
        rows.append(_result(p, baseline, base_rate))
    if reference is not None:
        rows.append(_result(reference, baseline, base_rate, reference.hardware))
    return rows


def _result(p: Plan, baseline: str, base_rate: float | None, reference: str = "") -> ExecutionResult:
    """A row for a solved plan; ratios to the baseline's throughput ``base_rate``."""
    return ExecutionResult(
        execution=p.execution, status=p.solver.status, throughput=p.throughput, latency_ms=p.latency_ms,
        energy_mj=p.energy_mj, solve_time_s=p.solver.solve_time_s, segments=p.segments, clusters=len(p.accelerators),
        baseline=baseline, throughput_ratio=p.throughput / base_rate if base_rate and p.throughput is not None else None,
        message=p.solver.message, plan=p, strategy=p.solver.strategy, reference=reference)


@dataclass(frozen=True)
class Comparison:
    """One strategy's row: its facts, its plan's metrics, and its gap to the best bound any strategy proved."""

    strategy: str
    status: str
    objective: float | None
    bound: float | None
    gap: float | None  # to the best proven bound of any strategy
    solve_time_s: float
    evaluations: int | None
    throughput: float | None
    latency_ms: float | None
    energy_mj: float | None
    message: str
    plan: Plan | None

    def to_dict(self) -> dict:
        """The row as plain data (without the plan)."""
        return {k: v for k, v in self.__dict__.items() if k != "plan"}


def compare(problem: Problem, strategies: Sequence[str], time_limit_s: float = 60.0, seed: int = 0,
            progress: Callable[[str], None] | None = None) -> list[Comparison]:
    """Run each strategy on ``problem``; a strategy that cannot handle it gets a row saying why."""
    for name in strategies:
        strategy(name)  # an unknown name is an error before anything runs
    plans: dict[str, Plan | str] = {}
    for name in strategies:
        if progress:
            progress(name)
        try:
            plans[name] = solve(problem, name, time_limit_s=time_limit_s, seed=seed)
        except SolveError as exc:
            plans[name] = str(exc)
    # the tightest proven bound: an exact strategy's bound, or any proven optimum
    bounds = [p.solver.bound for n, p in plans.items()
              if isinstance(p, Plan) and STRATEGIES[n].exact and p.solver.bound is not None]
    best_bound = None
    for b in bounds:
        if best_bound is None or problem.objective.better(best_bound, b):
            best_bound = b
    rows = []
    for name, plan in plans.items():
        if isinstance(plan, str):
            rows.append(Comparison(name, "unsupported", None, None, None, 0.0, None, None, None, None, plan, None))
            continue
        s = plan.solver
        value = plan.objective_value() if plan.accelerators else None
        rows.append(Comparison(name, s.status, value, s.bound, problem.objective.gap(value, best_bound),
                               s.solve_time_s, s.evaluations, plan.throughput, plan.latency_ms, plan.energy_mj,
                               s.message, plan if plan.accelerators else None))
    return rows


@dataclass(frozen=True)
class FrontPoint:
    """A plan on a latency-throughput front; ``exact`` when the solve that found it proved optimality."""

    execution: str
    latency_ms: float
    throughput: float
    energy_mj: float
    exact: bool
    strategy: str
    latency_bound_ms: float | None
    plan: Plan


@dataclass(frozen=True)
class Front:
    """The non-dominated plans of one execution model (sorted by latency), and how they were found."""

    execution: str
    strategy: str
    points: tuple[FrontPoint, ...]
    message: str = ""

    @property
    def exact(self) -> bool:
        """True when every point was proven optimal for its latency bound and the sweep ran to its end."""
        return bool(self.points) and all(p.exact for p in self.points) and "stopped" not in self.message


def non_dominated(points: Sequence[FrontPoint]) -> list[FrontPoint]:
    """Points that no other point beats or ties on both latency (lower) and throughput (higher), by latency.

    Latencies within 1e-9 (relative) of each other count as equal."""
    keep: list[FrontPoint] = []
    for p in sorted(points, key=lambda q: (q.latency_ms, -q.throughput)):
        if keep and p.latency_ms <= keep[-1].latency_ms * (1 + 1e-9) and p.throughput > keep[-1].throughput:
            keep[-1] = p  # equal latency up to rounding: the faster plan wins
        elif not keep or p.throughput > keep[-1].throughput * (1 + 1e-9):
            keep.append(p)
    return keep


def _point(execution: str, plan: Plan, bound_s: float | None) -> FrontPoint:
    return FrontPoint(execution, plan.latency_ms, plan.throughput, plan.energy_mj, plan.solver.status == "optimal",
                      plan.solver.strategy, None if bound_s is None else bound_s * 1e3, plan)


def exact_front(problem: Problem, strategy: str, max_points: int = 8, time_limit_s: float = 60.0, seed: int = 0,
                also_at: Sequence[float] = ()) -> Front:
    """ε-constraint sweep: maximise throughput under a latency bound, then tighten the bound below the plan found.

    ``problem`` has the throughput objective. Starts from its own latency bound (or none). Each
    step's plan has the highest throughput of any plan within the bound, so after dropping
    dominated points the sweep, run to its end, is the exact front. ``also_at`` adds solves at
    given latency bounds [ms] (other fronts' points) when the sweep stopped early or a solve hit
    its time limit, so fronts compare at the same bounds (a complete exact sweep already holds
    the optimum under every bound).
    """
    name = problem.execution.name
    points: list[FrontPoint] = []
    bound = problem.latency_max_s
    message = ""
    for _ in range(max_points):
        plan = solve(problem.with_latency_bound(bound), strategy, time_limit_s=time_limit_s, seed=seed)
        if not plan.accelerators:
            if plan.solver.status != "infeasible":
                under = "without a latency bound" if bound is None else f"under latency <= {bound * 1e3:.6g} ms"
                message = (f"stopped: the solve {under} ended ({plan.solver.status}) without a plan or a proof that "
                           "none exists")
            break
        points.append(_point(name, plan, bound))
        bound = plan.latency_ms / 1e3 * (1 - 1e-6)  # the next plan must be strictly faster to finish a batch
    else:
        message = f"stopped after {max_points} points (raise --points for the rest of the front)"
    complete = not message and all(q.exact for q in points)
    for other_ms in sorted(set(also_at), reverse=True):
        # a complete exact sweep already holds the optimum under any bound: its best point within the bound
        if complete or (problem.latency_max_s is not None and other_ms > problem.latency_max_s * 1e3 * (1 + 1e-9)):
            continue
        # a plan proven optimal under a looser bound that also meets this one is optimal under this one
        if any(q.exact and q.latency_ms <= other_ms * (1 + 1e-9)
               and (q.latency_bound_ms is None or q.latency_bound_ms >= other_ms) for q in points):
            continue
        plan = solve(problem.with_latency_bound(other_ms / 1e3), strategy, time_limit_s=time_limit_s, seed=seed)
        if plan.accelerators:
            points.append(_point(name, plan, other_ms / 1e3))
    return Front(name, strategy, tuple(non_dominated(points)), message)


def heuristic_front(problem: Problem, strategy: str, time_limit_s: float = 60.0, seed: int = 0,
                    trials: int | None = None) -> Front:
    """A multi-objective strategy's non-dominated plans, re-priced by the evaluator (no optimality claim)."""
    found, note = resolve(STRATEGIES[strategy].front)(problem, time_limit_s, seed, trials)
    points = []
    for groups in found:
        plan = evaluate(problem, groups)
        if plan.feasible:
            points.append(FrontPoint(problem.execution.name, plan.latency_ms, plan.throughput, plan.energy_mj, False,
                                     strategy, None, plan))
    return Front(problem.execution.name, strategy, tuple(non_dominated(points)), note)


def pareto_fronts(problems: dict[str, Problem], strategy: str = "auto", max_points: int = 8, time_limit_s: float = 60.0,
                  seed: int = 0, progress: Callable[[str], None] | None = None, trials: int | None = None) -> list[Front]:
    """Latency-throughput fronts of each execution model (``problems``: execution -> problem, throughput objective).

    ``strategy``: an exact one runs the ε-constraint sweep (``auto``: :func:`accelplan.solvers.auto`
    for a bounded solve); a multi-objective strategy (``optuna-nsga2``) gives the heuristic front (``trials`` per execution
    model, within the time limit). Fronts are computed in the family's order, from the narrowest
    execution model to the widest, and each wider one is also solved at the latencies of the
    narrower fronts' points. Segment-form problems are refused: their latency is the batch time and
    their throughput batch / that time, so each front is a single plan.
    """
    first = next(iter(problems.values()))
    if not all(p.form.has_front for p in problems.values()):
        raise SolveError(f"on {first.family} a plan's latency is its batch time and its throughput batch / that "
                         "time, so each execution model's front is a single plan: use accelplan compare-execution")
    fronts: list[Front] = []
    for execution in (m.name for m in families.get(first.family).executions if m.name in problems):
        p = problems[execution]
        if progress:
            progress(execution)
        if strategy in with_feature(Feature.MULTI_OBJECTIVE):
            fronts.append(heuristic_front(p, strategy, time_limit_s, seed, trials))
            continue
        name = strategy if strategy != "auto" else auto(p, bounded=True)
        if not STRATEGIES[name].exact:
            exact = ", ".join(s.name for s in STRATEGIES.values() if s.exact)
            multi = ", ".join(with_feature(Feature.MULTI_OBJECTIVE))
            raise SolveError(f"a Pareto sweep needs an exact strategy ({exact}) or a multi-objective one ({multi}), "
                             f"not {name!r}")
        why = STRATEGIES[name].reason(p)
        if why:
            fronts.append(Front(execution, name, (), why))
            continue
        others = [q.latency_ms for f in fronts for q in f.points]
        fronts.append(exact_front(p, name, max_points, time_limit_s, seed, also_at=others))
    return fronts


def merged_fronts(per_batch: Sequence[Sequence[Front]]) -> list[Front]:
    """One front per execution model over several batch sizes (``per_batch``: the fronts of each batch, the
    execution models in the same order): its points non-dominated among every batch's, each point's plan giving its
    batch. A larger batch trades latency for throughput, so the merged front is the execution model's whole trade-off."""
    out = []
    for fronts in zip(*per_batch):
        first = fronts[0]
        points = [q for f in fronts for q in f.points]
        notes = "; ".join(dict.fromkeys(f"batch {f.points[0].plan.batch if f.points else '?'}: {f.message}"
                                        for f in fronts if f.message))
        out.append(Front(first.execution, first.strategy, tuple(non_dominated(points)), notes))
    return out


@dataclass(frozen=True)
class Win:
    """Where one execution model's front gives the most throughput: under the latency bounds of each of ``ranges``
    (``(from_ms, to_ms)``, to_ms None: every looser bound), at most ``throughput``; ``lowest_ms`` is its front's least
    latency (None: an empty front)."""

    execution: str
    ranges: tuple[tuple[float, float | None], ...]
    throughput: float
    lowest_ms: float | None


def wins(fronts: Sequence[Front]) -> list[Win]:
    """For each front, the latency bounds under which it gives the most throughput of all fronts (a tie goes to the
    narrower execution model, the first in ``fronts``)."""
    cuts = sorted({q.latency_ms for f in fronts for q in f.points})

    def best(f: Front, bound: float) -> float:
        return max((q.throughput for q in f.points if q.latency_ms <= bound * (1 + 1e-9)), default=0.0)

    leader = []
    for bound in cuts:
        rates = [best(f, bound) for f in fronts]
        top = max(rates)
        leader.append(next(i for i, r in enumerate(rates) if r >= top * (1 - 1e-9)) if top > 0 else None)
    out = []
    for i, f in enumerate(fronts):
        ranges, top = [], 0.0
        for k, who in enumerate(leader):
            if who != i:
                continue
            end = cuts[k + 1] if k + 1 < len(cuts) else None
            if ranges and ranges[-1][1] == cuts[k]:
                ranges[-1] = (ranges[-1][0], end)
            else:
                ranges.append((cuts[k], end))
            top = max(top, best(f, cuts[k]))
        out.append(Win(f.execution, tuple(ranges), top, f.points[0].latency_ms if f.points else None))
    return out
