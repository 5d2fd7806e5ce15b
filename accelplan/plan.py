"""The one plan type every strategy returns and every emitter reads, and the one place plans are priced.

A strategy decides *groups*: which configuration each accelerator (or cluster) gets, which layers
it runs and, for segment plans, in which temporal segment. It returns them in an :class:`Outcome`;
:func:`finish` prices them with the hardware family's evaluator (:func:`evaluate`) and records how
they were found (:class:`SolverFacts`), so every strategy is measured by the same yardstick. The
pricing formulas are those of the execution model's form: :mod:`accelplan.execution.pipeline`
and :mod:`accelplan.execution.segments`.
"""

from __future__ import annotations

import time

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any, Literal

from . import families
from .execution import Form, Metrics
from .execution import devices as _devices
from .execution import pipeline as _pipeline
from .execution import segments as _segments
from .objective import objective as _objective
from .problem import Problem

Status = Literal["optimal", "feasible", "infeasible", "time_limit"]
#: what a strategy decides, one tuple per accelerator: (configuration index, layer indices) on a pipeline;
#: (configuration index, layer indices, segment) per cluster on segments; (device position, layer indices,
#: configuration index per layer) per device on a chain of devices
Groups = tuple[tuple, ...]


@dataclass(frozen=True)
class Progress:
    """One point of a strategy's anytime curve: seconds since it started, its best objective and its best
    bound so far (objective units; None: none yet)."""

    seconds: float
    objective: float | None
    bound: float | None


class Anytime:
    """What a solver records as it goes: a point each time its best objective or bound changes."""

    def __init__(self) -> None:
        self.start = time.perf_counter()
        self.points: list[Progress] = []

    def note(self, objective: float | None, bound: float | None) -> None:
        last = self.points[-1] if self.points else None
        if last is None or (last.objective, last.bound) != (objective, bound):
            self.points.append(Progress(time.perf_counter() - self.start, objective, bound))

    @property
    def curve(self) -> tuple[Progress, ...]:
        return tuple(self.points)


@dataclass(frozen=True)
class Outcome:
    """What a solver found: its groups (None: no plan), status, best bound (objective units), work done, a note.

    ``status``: ``optimal`` (the groups are proven best), ``feasible`` (a heuristic's plan, no bound),
    ``time_limit`` (stopped early), ``infeasible`` (proven: no plan meets the constraints).
    ``model_objective``: the objective as the solver's own model computed it (checked against the evaluator).
    """

    groups: Groups | None
    status: Status
    bound: float | None = None
    evaluations: int | None = None
    note: str = ""
    model_objective: float | None = None
    progress: tuple[Progress, ...] = ()  # the anytime curve, when the solver records one


@dataclass(frozen=True)
class SolverFacts:
    """How a plan was found: strategy, status, objective and best bound (in the objective's units), gap, wall time."""

    strategy: str
    status: Status
    objective: float | None = None
    bound: float | None = None
    gap: float | None = None
    solve_time_s: float = 0.0
    evaluations: int | None = None
    message: str = ""
    model_objective: float | None = None  # the objective as the strategy's own model computed it
    progress: tuple[Progress, ...] = ()  # best objective and bound over time, ending at the reported ones


@dataclass(frozen=True)
class AcceleratorPlan:
    """One accelerator (or cluster): its configuration, the layers and operators it runs, how busy it is and when.

    ``start_ms`` and ``pace_ms`` place it in the schedule of one batch: it starts its first input
    ``start_ms`` after the batch starts and one more input every ``pace_ms``. The fields after
    ``pace_ms`` describe the configuration as its family's build flows name it.
    """

    index: int
    config: str
    units: int
    layers: tuple[str, ...]
    ops: tuple[str, ...]
    busy_ms: float
    utilization: float  # busy / period: the fraction of the (batch) time it computes
    mac_efficiency: float  # useful MACs / (units * peak MAC rate * busy)
    start_ms: float = 0.0
    pace_ms: float = 0.0
    gemms: tuple[tuple[int, int, int, int], ...] = ()  # (m, k, n, count) of each layer's GEMM, in layer order
    array: tuple[int, int, int] = (1, 1, 1)  # versal-aie: engines A x B x C; mcm: cluster rows x cols x 1
    engine_tile: tuple[int, int, int] = (1, 1, 1)
    ports_in: int = 0
    ports_out: int = 0
    ports_lhs: int = 0  # of ports_in, the LHS streams (the rest carry the RHS)
    buffer_bytes: int = 0
    segment: int = 0  # temporal segment; accelerators of one segment run at the same time
    partitions: tuple[tuple[int, int], ...] = ()  # mcm: per layer (weight-shared groups, input-shared groups)
    layer_tiles: tuple[tuple[int, int, int], ...] = ()  # per layer: mcm the chiplet tile, multi-device the parallelism (m, k, n)
    placements: tuple[str, ...] = ()  # multi-device: per layer where its weights live (on-chip | streamed)
    part: str = ""  # multi-device: the FPGA part the device's build targets

    @property
    def tiles(self) -> dict[str, list[int]]:
        """Engine array shape and per-engine tile, as named in reports and configs."""
        return {"array": list(self.array), "engine_tile": list(self.engine_tile)}


@dataclass(frozen=True)
class Budget:
    """A shared resource of the plan: how much it uses of what is available (``unit``: "B" for bytes, "ms", or "")."""

    name: str
    used: float
    available: float
    unit: str = ""


_PAIRS = ("gemms", "partitions", "layer_tiles")
_TRIPLES = ("array", "engine_tile", "layers", "ops", "placements")


@dataclass(frozen=True)
class Plan:
    """A deployment plan with its metrics and the facts of the solve that produced it."""

    model: str
    hardware: str
    execution: str
    objective: str
    batch: int
    accelerators: tuple[AcceleratorPlan, ...]
    period_ms: float | None
    latency_ms: float | None
    throughput: float | None
    energy_mj: float | None
    feasible: bool
    violations: tuple[str, ...] = ()
    solver: SolverFacts = field(default_factory=lambda: SolverFacts("none", "infeasible"))
    dtype: str = ""
    family: str = ""  # the hardware family that priced it (accelplan.families)
    segments: int = 1
    budgets: tuple[Budget, ...] = ()
    bottleneck: str = ""  # what sets the period, where the family names it
    # a re-entrant pipeline plan (an input returns to an accelerator it has left): the batch's latency as its schedule
    # runs it (:func:`accelplan.execution.pipeline.scheduled_latency_s`); ``latency_ms`` is then the closed form the
    # strategies price. None: the closed form is the schedule's latency.
    scheduled_latency_ms: float | None = None

    def objective_value(self) -> float | None:
        """The plan's value of its objective: inferences/s, ms or mJ."""
        return _objective(self.objective).pick(self.throughput, self.latency_ms, self.energy_mj)

    def to_dict(self) -> dict[str, Any]:
        """Plain data (lists, numbers, strings) for YAML/JSON."""
        data = asdict(self)
        for acc in data["accelerators"]:
            for key in _TRIPLES:
                acc[key] = list(acc[key])
            for key in _PAIRS:
                acc[key] = [list(g) for g in acc[key]]
        data["violations"] = list(data["violations"])
        del data["solver"]["progress"]  # the anytime curve belongs to comparisons, not to a plan file
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Plan":
        """Inverse of :meth:`to_dict`; raises ``KeyError``/``TypeError`` on malformed data."""
        names = {f.name for f in fields(AcceleratorPlan)}
        accs = []
        for acc in data["accelerators"]:
            unknown = set(acc) - names
            if unknown:
                raise TypeError(f"unknown accelerator fields: {', '.join(sorted(unknown))}")
            accs.append(AcceleratorPlan(**{**acc, **{k: tuple(acc[k]) for k in _TRIPLES if k in acc},
                                           **{k: tuple(tuple(g) for g in acc.get(k, ())) for k in _PAIRS}}))
        top = {k: v for k, v in data.items() if k not in ("accelerators", "solver", "violations", "budgets")}
        return cls(**top, accelerators=tuple(accs), violations=tuple(data.get("violations", ())),
                   solver=SolverFacts(**{k: v for k, v in data["solver"].items() if k != "progress"}), budgets=tuple(Budget(**b) for b in data.get("budgets", ())))


def better(objective: str, a: float, b: float) -> bool:
    """True when objective value ``a`` beats ``b``."""
    return _objective(objective).better(a, b)


def relative_gap(objective: str, value: float | None, bound: float | None) -> float | None:
    """|value - bound| / |value|: 0 for a proven optimum."""
    return _objective(objective).gap(value, bound)


def best_plan(objective: str, plans: Iterable[Plan | None]) -> Plan | None:
    """The feasible plan with the best ``objective`` value (the first of equals), or None."""
    best = None
    for plan in plans:
        if plan is not None and plan.feasible and (
                best is None or better(objective, plan.objective_value(), best.objective_value())):
            best = plan
    return best


def metrics(problem: Problem, groups: Groups, check_bounds: bool = True) -> Metrics:
    """Price ``groups`` with the problem's tables, by the model of its execution's form."""
    form = {Form.PIPELINE: _pipeline, Form.SEGMENTS: _segments, Form.DEVICES: _devices}[problem.execution.form]
    return form.metrics(problem, groups, check_bounds)


def evaluate(problem: Problem, groups: Groups, solver: SolverFacts | None = None, check_bounds: bool = True) -> Plan:
    """Price ``groups`` and build the :class:`Plan` (by the problem's family): the single source of every reported metric."""
    return families.get(problem.family).evaluate(problem, groups, solver, check_bounds)


def _ordered(groups: Groups) -> Groups:
    """Groups with sorted layers, by segment then first layer."""
    out = [(g[0], tuple(sorted(g[1])), *g[2:]) for g in groups]
    return tuple(sorted(out, key=lambda g: (*g[2:], g[1][0] if g[1] else 1 << 30)))


def priced_plan(problem: Problem, met: Metrics, accelerators: Iterable[AcceleratorPlan], solver: SolverFacts | None,
                **extra: Any) -> Plan:
    """The :class:`Plan` of priced groups: metrics in user units (None when the groups could not be priced), the
    problem's names, and ``extra`` plan fields (segments, budgets, bottleneck)."""
    finite = met.period_s != float("inf")
    return Plan(
        model=problem.model, hardware=problem.hardware, execution=problem.execution.name,
        objective=problem.objective.name, batch=problem.batch, accelerators=tuple(accelerators),
        period_ms=met.period_s * 1e3 if finite else None, latency_ms=met.latency_s * 1e3 if finite else None,
        throughput=met.throughput if finite else None, energy_mj=met.energy_j * 1e3 if finite else None,
        feasible=not met.violations, violations=met.violations, solver=solver or SolverFacts("none", "feasible"),
        dtype=problem.dtype, family=problem.family, **extra)


def pipeline_plan(problem: Problem, groups: Groups, solver: SolverFacts | None = None, check_bounds: bool = True) -> Plan:
    """A pipeline plan: per accelerator its configuration's own fields (``config.plan_fields()``), layers and timing."""
    groups = _ordered(groups)
    met = metrics(problem, groups, check_bounds)
    period, start, accs = met.period_s, 0.0, []
    for i, ((c, ls), busy) in enumerate(zip(groups, met.busy_s)):
        cfg = problem.configs[c]
        macs = sum(problem.layers[l].gemm.macs for l in ls)
        accs.append(AcceleratorPlan(
            index=i, **cfg.plan_fields(), layers=tuple(problem.layers[l].name for l in ls),
            ops=tuple(op for l in ls for op in problem.layers[l].ops), busy_ms=busy * 1e3,
            utilization=busy / period if period else 0.0,
            mac_efficiency=macs / (cfg.units * problem.peak_macs_per_unit_s * busy) if busy else 0.0,
            start_ms=start * 1e3, pace_ms=period * 1e3,
            gemms=tuple((g.m, g.k, g.n, g.count) for g in (problem.layers[l].gemm for l in ls))))
        start += busy
    use = _pipeline.usage(problem, groups)
    budgets = [Budget(name, float(u), float(cap), unit)
               for name, u, cap, unit in zip(problem.resources, use, problem.capacity, problem.resource_units)]
    if problem.ddr_period_s:
        budgets.append(Budget("DDR time per input (of the period)", problem.ddr_period_s * 1e3, period * 1e3, "ms"))
    scheduled = None  # a plan missing a layer has no schedule
    if period != float("inf") and not _pipeline.structure_violations(problem, groups):
        scheduled = _pipeline.scheduled_latency_s(problem, groups, met.busy_s, period)
    return priced_plan(problem, met, accs, solver, budgets=tuple(budgets),
                       scheduled_latency_ms=None if scheduled is None else scheduled * 1e3)


def infeasible_plan(problem: Problem, solver: SolverFacts) -> Plan:
    """The plan returned when no feasible plan exists (or none was found in time)."""
    return Plan(problem.model, problem.hardware, problem.execution.name, problem.objective.name, problem.batch, (),
                None, None, None, None, False, (solver.message,) if solver.message else (), solver, problem.dtype,
                problem.family, 0)


_NO_PLAN = {"infeasible": "no plan meets the constraints", "time_limit": "no plan found within the time limit",
            "optimal": "no plan meets the constraints", "feasible": "no feasible plan found"}


def _scheduled_note(problem: Problem, plan: Plan) -> str:
    """What a re-entrant plan's message says when its schedule misses what the strategies judged by the closed form:
    the latency bound, or (latency objective) the latency it was optimised for; "" otherwise."""
    scheduled = plan.scheduled_latency_ms
    if scheduled is None:
        return ""
    if problem.latency_max_s is not None and scheduled > problem.latency_max_s * 1e3 * (1 + 1e-9):
        return (f"as scheduled the batch takes {scheduled:.6g} ms, over latency_max_ms {problem.latency_max_s * 1e3:g}: "
                f"the strategies bound the closed form ({plan.latency_ms:.6g} ms), which a re-entrant plan's schedule "
                "exceeds")
    if problem.objective == "latency" and scheduled > plan.latency_ms * (1 + 1e-9):
        return (f"as scheduled the batch takes {scheduled:.6g} ms: the latency objective is the closed form "
                f"({plan.latency_ms:.6g} ms), which a re-entrant plan's schedule exceeds")
    return ""


def finish(problem: Problem, strategy: str, outcome: Outcome, elapsed_s: float) -> Plan:
    """Turn a solver's :class:`Outcome` into a priced :class:`Plan` with its facts: status, bound, gap, message.

    A proven optimum's bound is its own value; groups the evaluator finds infeasible are reported
    as such (a solver must not return them, so the plan says what they violate). A re-entrant plan
    whose schedule misses the latency bound, or for the latency objective takes longer than the closed
    form it was optimised on, says so in its message.
    """
    note = outcome.note
    if outcome.groups is None:
        status = "infeasible" if outcome.status in ("infeasible", "optimal") else "time_limit"
        message = _NO_PLAN[outcome.status] + (f" ({note})" if note else "")
        return infeasible_plan(problem, SolverFacts(strategy, status, None, outcome.bound, None, elapsed_s,
                                                    outcome.evaluations, message))
    plan = evaluate(problem, outcome.groups)
    if not plan.feasible:
        facts = SolverFacts(strategy, "infeasible", None, None, None, elapsed_s, outcome.evaluations,
                            f"{strategy} returned a plan that violates: {'; '.join(plan.violations)}")
        return replace(plan, solver=facts)
    value = plan.objective_value()
    bound = value if outcome.status == "optimal" else outcome.bound
    progress = outcome.progress + (Progress(elapsed_s, value, bound),)
    note = "; ".join(filter(None, (note, _scheduled_note(problem, plan))))
    facts = SolverFacts(strategy, outcome.status, value, bound, problem.objective.gap(value, bound), elapsed_s,
                        outcome.evaluations, note,
                        value if outcome.model_objective is None and outcome.status == "optimal" else outcome.model_objective,
                        progress)
    return replace(plan, solver=facts)


def plan_groups(problem: Problem, plan: Plan) -> Groups:
    """The groups a plan was priced from (the inverse of :func:`evaluate`), for checks and warm starts from plan files;
    a ``KeyError`` names a layer or configuration the problem does not have."""
    index = {layer.name: i for i, layer in enumerate(problem.layers)}
    if problem.execution.form is Form.DEVICES:
        from .execution.devices import plan_groups as device_groups
        return device_groups(problem, plan.accelerators, index)
    labels = {cfg.label: c for c, cfg in enumerate(problem.configs)}
    segmented = problem.execution.form is Form.SEGMENTS
    return tuple((labels[a.config], tuple(index[n] for n in a.layers), *((a.segment,) if segmented else ()))
                 for a in plan.accelerators)
