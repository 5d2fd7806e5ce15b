"""The one plan type every strategy returns and every emitter reads, and the one place plans are priced.

A strategy decides *groups*: the typed records of its problem's plan form (which configuration
each accelerator, cluster or device gets, which layers it runs, ...). It returns them in an
:class:`Outcome`; :func:`finish` prices them with the form (:func:`evaluate`: ``problem.form.plan``)
and records how they were found (:class:`SolverFacts`), so every strategy is measured by the same
yardstick. The pricing formulas and the accelerator records are the forms' (:mod:`accelplan.execution`).
"""

from __future__ import annotations

import time

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, fields, replace
from typing import TYPE_CHECKING, Any, Literal

from .objective import objective as _objective
from .specs.schema import DTYPE_BYTES

if TYPE_CHECKING:
    from .execution import Metrics
    from .problem import Problem

Status = Literal["optimal", "feasible", "infeasible", "time_limit"]
#: what a strategy decides: one record per accelerator, cluster or device, of the type its plan form declares
#: (``problem.form.group``: :class:`~accelplan.execution.pipeline.PipelineGroup`, ...)
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
    """One accelerator (or cluster, or device): its configuration, the layers and operators it runs, how busy it is
    and when. Each plan form has its own record, a subclass with the fields its families' build flows name
    (:class:`~accelplan.execution.pipeline.PipelineAccelerator`, :class:`~accelplan.execution.segments.ClusterPlan`,
    :class:`~accelplan.execution.devices.DevicePlan`, ...).

    ``start_ms`` and ``pace_ms`` place it in the schedule of one batch: it starts its first input
    ``start_ms`` after the batch starts and one more input every ``pace_ms``.
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

    @property
    def tiles(self) -> dict[str, list]:
        """Shape and tile fields as reports and configs name them (none on the base record)."""
        return {}

    def when(self) -> str:
        """Where it runs in time besides the pipeline, as reports say it ("segment 2"); "" when always."""
        return ""

    def operator_list(self) -> list[str]:
        """Its operators as reports list them."""
        return list(self.ops)

    def details(self) -> dict[str, Any]:
        """The form's fields that the JSON summary adds (plain data)."""
        return {}


@dataclass(frozen=True)
class LayerTime:
    """One layer as its plan runs it, per input: its time, the term of its family's cost model that sets that time
    (``bound``: "compute", "PLIO", "DDR", "launch", ...; "" where the family names none), each term's time
    (``terms_ms``, in the order of the plan's ``layer_terms``) and its MAC efficiency (useful MACs / (its
    accelerator's units x peak MAC rate per unit x time)). Recorded by the plan's form from the problem's tables
    (:class:`accelplan.problem.LayerBounds`); reports read it, never the cost model."""

    name: str
    accelerator: int  # index of the accelerator (cluster, device) that runs it
    time_ms: float
    bound: str = ""
    terms_ms: tuple[float, ...] = ()
    macs: float = 0.0  # per input
    mac_efficiency: float = 0.0


@dataclass(frozen=True)
class Budget:
    """A shared resource of the plan: how much it uses of what is available (``unit``: "B" for bytes, "ms", or "")."""

    name: str
    used: float
    available: float
    unit: str = ""


@dataclass(frozen=True)
class Serving:
    """A language model served by the plan: what a serving engineer reads.

    With ``sequences`` S in flight, one token of each per step: TPOT (time per output token of one sequence) is
    the plan's latency, tokens/s = S / TPOT (Little's law, never above 1 / the slowest stage's time per token),
    energy per token the plan's energy per input, TTFT the latency of the prompt through the same plan, a request
    takes TTFT + (generate - 1) x TPOT.
    """

    sequences: int
    prompt: int
    generate: int
    context: int
    ttft_ms: float
    tpot_ms: float
    tokens_per_s: float
    request_latency_ms: float
    joules_per_token: float
    weight_bytes: float  # of the whole model
    kv_cache_bytes: float  # of all sequences in flight, at the context
    kv_bytes_per_token: float  # KV cache one generated token reads (its sequence's, every layer)
    stage_ms: float  # the slowest stage's time per token: tokens/s reaches 1 / stage_ms at enough sequences

    @property
    def saturating_sequences(self) -> float:
        """Sequences in flight from which the slowest stage, not the wait for a sequence's previous token, sets
        tokens/s (TPOT / stage time at S = ``sequences``, scaled)."""
        return self.tpot_ms / self.stage_ms if self.stage_ms else float("inf")


def _tuples(value: Any) -> Any:
    """Lists (from YAML/JSON) as tuples, nested."""
    return tuple(_tuples(v) for v in value) if isinstance(value, list) else value


def _plain(value: Any) -> Any:
    """Tuples as lists, nested (for YAML/JSON)."""
    return [_plain(v) for v in value] if isinstance(value, (tuple, list)) else value


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
    # ``latency_ms`` is the batch's latency as the plan's schedule runs it. A re-entrant pipeline plan (an input returns
    # to an accelerator it has left) waits where the closed form does not: the closed form the exact formulations
    # price is then ``closed_form_latency_ms`` (None: it is ``latency_ms``), and ``dispatch`` names the rule each
    # accelerator runs its ready operators by (:data:`accelplan.execution.pipeline.DISPATCHES`; "" where not named)
    closed_form_latency_ms: float | None = None
    dispatch: str = ""
    form: str = ""  # the plan form that priced it (accelplan.execution.Form label); "" in files written before forms
    serving: Serving | None = None  # a served language model's figures (a study with a workload)
    # the study's bounds the plan was asked to meet (None: none given)
    latency_max_ms: float | None = None
    throughput_min: float | None = None
    # per layer, in layer order: its time, the cost-model term that sets it and each term (named by ``layer_terms``)
    layer_terms: tuple[str, ...] = ()
    layer_times: tuple[LayerTime, ...] = ()

    def objective_value(self) -> float | None:
        """The plan's value of its objective: inferences/s, ms or mJ."""
        return _objective(self.objective).pick(self.throughput, self.latency_ms, self.energy_mj)

    def to_dict(self) -> dict[str, Any]:
        """Plain data (lists, numbers, strings) for YAML/JSON."""
        data = asdict(self)
        data["accelerators"] = [{k: _plain(v) for k, v in acc.items()} for acc in data["accelerators"]]
        data["violations"] = list(data["violations"])
        data["layer_terms"] = list(data["layer_terms"])
        data["layer_times"] = [{k: _plain(v) for k, v in t.items()} for t in data["layer_times"]]
        del data["solver"]["progress"]  # the anytime curve belongs to comparisons, not to a plan file
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any], accelerator: type[AcceleratorPlan] = AcceleratorPlan) -> "Plan":
        """Inverse of :meth:`to_dict`, the accelerators read as ``accelerator`` records (the plan form's); raises
        ``KeyError``/``TypeError`` on malformed data. A file written before plans had forms (no ``form`` key) held
        every form's fields on each accelerator: those the record does not have are dropped."""
        names = {f.name for f in fields(accelerator)}
        legacy = "form" not in data
        accs = []
        for acc in data["accelerators"]:
            unknown = set(acc) - names
            if unknown and not legacy:
                raise TypeError(f"unknown accelerator fields: {', '.join(sorted(unknown))}")
            accs.append(accelerator(**{k: _tuples(v) for k, v in acc.items() if k in names}))
        top = {k: v for k, v in data.items()
               if k not in ("accelerators", "solver", "violations", "budgets", "serving", "layer_times")}
        if "layer_terms" in top:
            top["layer_terms"] = tuple(top["layer_terms"])
        serving = data.get("serving")
        if serving is not None:
            serving = Serving(**serving)
        return cls(**top, accelerators=tuple(accs), violations=tuple(data.get("violations", ())), serving=serving,
                   solver=SolverFacts(**{k: v for k, v in data["solver"].items() if k != "progress"}),
                   budgets=tuple(Budget(**b) for b in data.get("budgets", ())),
                   layer_times=tuple(LayerTime(**{k: _tuples(v) for k, v in t.items()})
                                     for t in data.get("layer_times", ())))


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


def metrics(problem: "Problem", groups: Groups, check_bounds: bool = True) -> "Metrics":
    """Price ``groups`` with the problem's tables, by the model of its execution's form."""
    return problem.form.metrics(problem, problem.form.typed(groups), check_bounds)


def evaluate(problem: "Problem", groups: Groups, solver: SolverFacts | None = None, check_bounds: bool = True) -> Plan:
    """Price ``groups`` and build the :class:`Plan` (by the problem's form): the single source of every reported metric."""
    return problem.form.plan(problem, problem.form.typed(groups), solver, check_bounds)


def serving_of(problem: "Problem", groups: Groups, met: "Metrics") -> Serving | None:
    """The served language model's figures of priced ``groups`` (None without a workload or a price): TPOT, tokens/s
    and energy per token are the metrics' latency, throughput and energy; TTFT is the latency of the same groups
    on the problem's prompt phase."""
    w = problem.workload
    if w is None or met.period_s == float("inf"):
        return None
    ttft = problem.form.metrics(problem.prefill, groups, False).latency_s if problem.prefill is not None else 0.0
    nbytes = DTYPE_BYTES[problem.dtype]
    kv_token = sum(layer.gemm.cache_elements for layer in problem.layers) * nbytes
    stage = met.stage_s if met.stage_s is not None else met.period_s
    return Serving(
        sequences=w.sequences, prompt=w.prompt, generate=w.generate, context=w.context, ttft_ms=ttft * 1e3,
        tpot_ms=met.latency_s * 1e3, tokens_per_s=met.throughput,
        request_latency_ms=(ttft + (w.generate - 1) * met.latency_s) * 1e3, joules_per_token=met.energy_j,
        weight_bytes=float(sum(layer.gemm.weight_elements for layer in problem.layers) * nbytes),
        kv_cache_bytes=float(kv_token * w.sequences), kv_bytes_per_token=float(kv_token), stage_ms=stage * 1e3)


def priced_plan(problem: "Problem", met: "Metrics", accelerators: Iterable[AcceleratorPlan], solver: SolverFacts | None,
                groups: Groups = (), **extra: Any) -> Plan:
    """The :class:`Plan` of priced ``groups``: metrics in user units (None when the groups could not be priced), the
    problem's names, a served model's figures (:func:`serving_of`), and ``extra`` plan fields (segments, budgets,
    bottleneck)."""
    finite = met.period_s != float("inf")
    if problem.workload is not None:
        extra["serving"] = serving_of(problem, groups, met)
    return Plan(latency_max_ms=None if problem.latency_max_s is None else problem.latency_max_s * 1e3,
                throughput_min=problem.throughput_min,
        model=problem.model, hardware=problem.hardware, execution=problem.execution.name,
        objective=problem.objective.name, batch=problem.batch, accelerators=tuple(accelerators),
        period_ms=met.period_s * 1e3 if finite else None, latency_ms=met.latency_s * 1e3 if finite else None,
        throughput=met.throughput if finite else None, energy_mj=met.energy_j * 1e3 if finite else None,
        feasible=not met.violations, violations=met.violations, solver=solver or SolverFacts("none", "feasible"),
        dtype=problem.dtype, family=problem.family, form=problem.execution.form.label, **extra)


def infeasible_plan(problem: "Problem", solver: SolverFacts) -> Plan:
    """The plan returned when no feasible plan exists (or none was found in time)."""
    return Plan(model=problem.model, hardware=problem.hardware, execution=problem.execution.name,
                latency_max_ms=None if problem.latency_max_s is None else problem.latency_max_s * 1e3,
                throughput_min=problem.throughput_min,
                objective=problem.objective.name, batch=problem.batch, accelerators=(), period_ms=None, latency_ms=None,
                throughput=None, energy_mj=None, feasible=False,
                violations=(solver.message,) if solver.message else (), solver=solver, dtype=problem.dtype,
                family=problem.family, segments=0, form=problem.execution.form.label)


_NO_PLAN = {"infeasible": "no plan meets the constraints", "time_limit": "no plan found within the time limit",
            "optimal": "no plan meets the constraints", "feasible": "no feasible plan found"}


def finish(problem: "Problem", strategy: str, outcome: Outcome, elapsed_s: float) -> Plan:
    """Turn a solver's :class:`Outcome` into a priced :class:`Plan` with its facts: status, bound, gap, message.

    A proven optimum's bound is its own value; groups the evaluator finds infeasible are reported
    as such (a solver must not return them, so the plan says what they violate: a re-entrant plan whose schedule
    misses the latency bound among them).
    """
    note = outcome.note
    if outcome.groups is None:
        status = "infeasible" if outcome.status in ("infeasible", "optimal") else "time_limit"
        message = _NO_PLAN[outcome.status] + (f" ({note})" if note else "")
        return infeasible_plan(problem, SolverFacts(strategy, status, bound=outcome.bound, solve_time_s=elapsed_s,
                                                    evaluations=outcome.evaluations, message=message))
    plan = evaluate(problem, outcome.groups)
    if not plan.feasible:
        facts = SolverFacts(strategy, "infeasible", solve_time_s=elapsed_s, evaluations=outcome.evaluations,
                            message=f"{strategy} returned a plan that violates: {'; '.join(plan.violations)}")
        return replace(plan, solver=facts)
    value = plan.objective_value()
    bound = value if outcome.status == "optimal" else outcome.bound
    progress = outcome.progress + (Progress(elapsed_s, value, bound),)
    proven = outcome.model_objective is None and outcome.status == "optimal"
    facts = SolverFacts(strategy, outcome.status, objective=value, bound=bound, gap=problem.objective.gap(value, bound),
                        solve_time_s=elapsed_s, evaluations=outcome.evaluations, message=note,
                        model_objective=value if proven else outcome.model_objective, progress=progress)
    return replace(plan, solver=facts)


def plan_groups(problem: "Problem", plan: Plan) -> Groups:
    """The groups a plan was priced from (the inverse of :func:`evaluate`), for checks and warm starts from plan files;
    a ``KeyError`` names a layer or configuration the problem does not have."""
    return problem.form.plan_groups(problem, plan)
