"""The one plan type every strategy returns and every emitter reads, and the evaluator that prices it.

A strategy decides *groups*: which configuration each accelerator gets and which layers it runs.
:func:`evaluate` turns groups into a :class:`Plan` with metrics computed from the problem's cost
tables, so every strategy is measured by the same yardstick.

Pipeline model (per input, in seconds):
- busy_a      = sum of the times of accelerator a's layers                      [stage time]
- period      = max(max_a busy_a, DDR bytes per input / DDR bandwidth)          [steady state]
- throughput  = 1 / period                                                      [inferences/s]
- latency     = sum_a busy_a + (batch - 1) * period                             [fill + drain of a batch]
- energy      = sum of layer energies + static power * period                   [J per inference]

On a chiplet package (``family: mcm``) groups also name their temporal segment and are priced by
:mod:`accelplan.execution.segments`; period = batch time / batch, latency = batch time.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Literal

import numpy as np

from .problem import Problem
from .execution import segments as seg

Status = Literal["optimal", "feasible", "infeasible", "time_limit"]
Groups = tuple[tuple[int, tuple[int, ...]], ...]  # (configuration index, layer indices) per accelerator
# on mcm: (configuration index, layer indices, segment) per cluster (see accelplan.execution.segments.MCMGroups)


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


@dataclass(frozen=True)
class AcceleratorPlan:
    """One accelerator: its configuration, the layers and operators it runs, and how busy it is."""

    index: int
    config: str
    array: tuple[int, int, int]
    engine_tile: tuple[int, int, int]
    units: int
    ports_in: int
    ports_out: int
    buffer_bytes: int
    layers: tuple[str, ...]
    ops: tuple[str, ...]
    busy_ms: float
    utilization: float  # busy / period: the fraction of the (batch) time it computes
    mac_efficiency: float  # useful MACs / (units * peak MAC rate * busy)
    ports_lhs: int = 0  # of ports_in, the LHS streams (the rest carry the RHS)
    gemms: tuple[tuple[int, int, int, int], ...] = ()  # (m, k, n, count) of each layer's GEMM, in layer order
    segment: int = 0  # temporal segment (mcm); accelerators of one segment run at the same time
    partitions: tuple[tuple[int, int], ...] = ()  # mcm: per layer (weight-shared groups, input-shared groups)
    layer_tiles: tuple[tuple[int, int, int], ...] = ()  # mcm: per layer the chiplet tile (m, k, n)

    @property
    def tiles(self) -> dict[str, list[int]]:
        """Engine array shape and per-engine tile, as named in reports and configs."""
        return {"array": list(self.array), "engine_tile": list(self.engine_tile)}


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
    family: str = "versal-aie"
    segments: int = 1

    def objective_value(self) -> float | None:
        """The plan's value of its objective: inferences/s, ms or mJ."""
        return objective_value(self.objective, self.throughput, self.latency_ms, self.energy_mj)

    def to_dict(self) -> dict[str, Any]:
        """Plain data (lists, numbers, strings) for YAML/JSON."""
        data = asdict(self)
        for acc in data["accelerators"]:
            for key in ("array", "engine_tile", "layers", "ops"):
                acc[key] = list(acc[key])
            for key in ("gemms", "partitions", "layer_tiles"):
                acc[key] = [list(g) for g in acc[key]]
        data["violations"] = list(data["violations"])
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Plan":
        """Inverse of :meth:`to_dict`; raises ``KeyError``/``TypeError`` on malformed data."""
        accs = []
        for acc in data["accelerators"]:
            names = {f.name for f in fields(AcceleratorPlan)}
            unknown = set(acc) - names
            if unknown:
                raise TypeError(f"unknown accelerator fields: {', '.join(sorted(unknown))}")
            accs.append(AcceleratorPlan(**{**acc, "array": tuple(acc["array"]), "engine_tile": tuple(acc["engine_tile"]),
                                           "layers": tuple(acc["layers"]), "ops": tuple(acc["ops"]),
                                           **{k: tuple(tuple(g) for g in acc.get(k, ()))
                                              for k in ("gemms", "partitions", "layer_tiles")}}))
        top = {k: v for k, v in data.items() if k not in ("accelerators", "solver", "violations")}
        return cls(**top, accelerators=tuple(accs), violations=tuple(data.get("violations", ())),
                   solver=SolverFacts(**data["solver"]))


def objective_value(objective: str, throughput: float | None, latency_ms: float | None, energy_mj: float | None) -> float | None:
    """Pick the objective's metric (throughput is maximised, latency and energy minimised)."""
    return {"throughput": throughput, "latency": latency_ms, "energy": energy_mj}[objective]


def batch_objective_value(objective: str, batch: int, value: float | None) -> float | None:
    """A per-batch objective (seconds; joules for energy, as the mcm strategies minimise it) in the user's units."""
    if value is None:
        return None
    value = float(value)
    return objective_value(objective, batch / value if value > 0 else float("inf"), value * 1e3, value / batch * 1e3)


def better(objective: str, a: float, b: float) -> bool:
    """True when objective value ``a`` beats ``b``."""
    return a > b if objective == "throughput" else a < b


def best_plan(objective: str, plans: Iterable[Plan | None]) -> Plan | None:
    """The feasible plan with the best ``objective`` value (the first of equals), or None."""
    best = None
    for plan in plans:
        if plan is not None and plan.feasible and (
                best is None or better(objective, plan.objective_value(), best.objective_value())):
            best = plan
    return best


def relative_gap(objective: str, value: float | None, bound: float | None) -> float | None:
    """|value - bound| / |value|: 0 for a proven optimum."""
    if value is None or bound is None:
        return None
    if value == 0:
        return 0.0 if bound == 0 else float("inf")
    return max(0.0, (bound - value) if objective == "throughput" else (value - bound)) / abs(value)


def structure_violations(problem: Problem, groups: Groups) -> list[str]:
    """Violations of the execution model: every layer once; sequential one accelerator; spatial contiguous groups."""
    out = []
    seen = sorted(l for _, ls in groups for l in ls)
    if seen != list(range(problem.n_layers)):
        out.append("every layer must be assigned to exactly one accelerator")
    if len(groups) > problem.accelerator_slots:
        out.append(f"{len(groups)} accelerators exceed the limit of {problem.accelerator_slots}")
    if any(not ls for _, ls in groups):
        out.append("an accelerator runs no layer")
    if problem.execution == "spatial":
        if any(ls and list(ls) != list(range(ls[0], ls[-1] + 1)) for _, ls in groups):
            out.append("spatial execution needs each accelerator to run consecutive layers")
    return out


@dataclass(frozen=True)
class Metrics:
    """The numbers behind a plan, in seconds and joules (per input)."""

    busy_s: tuple[float, ...]
    period_s: float
    latency_s: float
    energy_j: float
    violations: tuple[str, ...]

    @property
    def throughput(self) -> float:
        return 1.0 / self.period_s if self.period_s > 0 else float("inf")

    def objective_value(self, objective: str) -> float:
        """Value in user units: inferences/s, ms or mJ."""
        return objective_value(objective, self.throughput, self.latency_s * 1e3, self.energy_j * 1e3)


def _bound_violations(problem: Problem, latency: float, period: float) -> list[str]:
    out = []
    if problem.latency_max_s is not None and latency > problem.latency_max_s * (1 + 1e-9):
        out.append(f"latency {latency * 1e3:.4f} ms exceeds latency_max_ms {problem.latency_max_s * 1e3:g}")
    if problem.throughput_min is not None and period * problem.throughput_min > 1 + 1e-9:
        out.append(f"throughput {1 / period:.2f}/s below throughput_min {problem.throughput_min:g}")
    return out


def _mcm_metrics(problem: Problem, groups, check_bounds: bool) -> Metrics:
    violations = seg.layout_violations(problem, groups)
    if violations:
        return Metrics(tuple(0.0 for _ in groups), float("inf"), float("inf"), float("inf"), tuple(violations))
    violations = seg.rule_violations(problem, groups)
    m = seg.price(problem, groups)
    period = m.batch_time_s / problem.batch
    if check_bounds:
        violations += _bound_violations(problem, m.batch_time_s, period)
    return Metrics(m.busy_s, period, m.batch_time_s, m.energy_j, tuple(violations))


def metrics(problem: Problem, groups: Groups, check_bounds: bool = True) -> Metrics:
    """Price ``groups`` (configuration, layer indices[, segment]) with the problem's tables; see the module docstring."""
    if problem.family == "mcm":
        return _mcm_metrics(problem, groups, check_bounds)
    violations = structure_violations(problem, groups)
    busy = tuple(float(problem.time_s[list(ls), c].sum()) for c, ls in groups)
    use = sum((problem.usage[c] for c, _ in groups), np.zeros(len(problem.resources)))
    for r, name in enumerate(problem.resources):
        if use[r] > problem.capacity[r] * (1 + 1e-9):
            violations.append(f"{name}: {use[r]:g} used of {problem.capacity[r]:g}")
    period = max(max(busy, default=0.0), problem.ddr_period_s)
    latency = sum(busy) + (problem.batch - 1) * period
    energy = float(sum(problem.energy_j[list(ls), c].sum() for c, ls in groups)) + problem.static_power_w * period
    if check_bounds:
        violations += _bound_violations(problem, latency, period)
    return Metrics(busy, period, latency, energy, tuple(violations))


def evaluate(problem: Problem, groups: Groups, solver: SolverFacts | None = None, check_bounds: bool = True) -> Plan:
    """Price ``groups`` and build the :class:`Plan`: the single source of every reported metric."""
    if problem.family == "mcm":
        return _evaluate_mcm(problem, groups, solver, check_bounds)
    groups = tuple(sorted(((c, tuple(sorted(ls))) for c, ls in groups), key=lambda g: g[1][0] if g[1] else 1 << 30))
    met = metrics(problem, groups, check_bounds)
    period = met.period_s
    accs = []
    for i, ((c, ls), b) in enumerate(zip(groups, met.busy_s)):
        cfg = problem.configs[c]
        macs = sum(problem.layers[l].gemm.macs for l in ls)
        accs.append(AcceleratorPlan(
            index=i, config=cfg.label, array=cfg.array, engine_tile=cfg.engine_tile, units=cfg.units,
            ports_in=cfg.ports_in, ports_out=cfg.ports_out, buffer_bytes=cfg.buffer_bytes,
            layers=tuple(problem.layers[l].name for l in ls),
            ops=tuple(op for l in ls for op in problem.layers[l].ops),
            busy_ms=b * 1e3, utilization=b / period if period else 0.0,
            mac_efficiency=macs / (cfg.units * problem.peak_macs_per_unit_s * b) if b else 0.0,
            ports_lhs=cfg.ports_lhs,
            gemms=tuple((g.m, g.k, g.n, g.count) for g in (problem.layers[l].gemm for l in ls))))
    return Plan(
        model=problem.model, hardware=problem.hardware, execution=problem.execution, objective=problem.objective,
        batch=problem.batch, accelerators=tuple(accs), period_ms=period * 1e3, latency_ms=met.latency_s * 1e3,
        throughput=met.throughput, energy_mj=met.energy_j * 1e3, feasible=not met.violations,
        violations=met.violations, solver=solver or SolverFacts("none", "feasible"), dtype=problem.dtype)


def _evaluate_mcm(problem: Problem, groups, solver: SolverFacts | None, check_bounds: bool) -> Plan:
    groups = tuple(sorted(((c, tuple(sorted(ls)), s) for c, ls, s in groups), key=lambda g: (g[2], g[1][0] if g[1] else 1 << 30)))
    met = metrics(problem, groups, check_bounds)
    tables = problem.segments
    accs = []
    for i, ((c, ls, s), b) in enumerate(zip(groups, met.busy_s)):
        cfg = problem.configs[c]
        maps = [tables.mappings[l][c] for l in ls]
        macs = sum(problem.layers[l].gemm.macs for l in ls)
        accs.append(AcceleratorPlan(
            index=i, config=cfg.label, array=(cfg.rows, cfg.cols, 1), engine_tile=maps[0].tile if maps else (1, 1, 1),
            units=cfg.units, ports_in=0, ports_out=0,
            buffer_bytes=int(sum(m.weight_bytes_per_chiplet for m in maps) + max((m.buffer_bytes_per_chiplet for m in maps), default=0)),
            layers=tuple(problem.layers[l].name for l in ls), ops=tuple(op for l in ls for op in problem.layers[l].ops),
            busy_ms=b * 1e3, utilization=b / met.period_s if met.period_s not in (0, float("inf")) else 0.0,
            mac_efficiency=macs / (cfg.units * problem.peak_macs_per_unit_s * b) if b else 0.0,
            gemms=tuple((g.m, g.k, g.n, g.count) for g in (problem.layers[l].gemm for l in ls)),
            segment=s, partitions=tuple((m.weight_groups, m.input_groups) for m in maps),
            layer_tiles=tuple(m.tile for m in maps)))
    finite = met.period_s != float("inf")
    return Plan(
        model=problem.model, hardware=problem.hardware, execution=problem.execution, objective=problem.objective,
        batch=problem.batch, accelerators=tuple(accs), period_ms=met.period_s * 1e3 if finite else None,
        latency_ms=met.latency_s * 1e3 if finite else None, throughput=met.throughput if finite else None,
        energy_mj=met.energy_j * 1e3 if finite else None, feasible=not met.violations, violations=met.violations,
        solver=solver or SolverFacts("none", "feasible"), dtype=problem.dtype, family="mcm",
        segments=len({s for _, _, s in groups}))


def plan_groups(problem: Problem, plan: Plan) -> Groups:
    """The inverse of :func:`evaluate`: (configuration index, layer indices[, segment]) per accelerator of ``plan``."""
    index = {layer.name: i for i, layer in enumerate(problem.layers)}
    labels = {cfg.label: c for c, cfg in enumerate(problem.configs)}
    if problem.family == "mcm":
        return tuple((labels[a.config], tuple(index[n] for n in a.layers), a.segment) for a in plan.accelerators)
    return tuple((labels[a.config], tuple(index[n] for n in a.layers)) for a in plan.accelerators)


def infeasible_plan(problem: Problem, solver: SolverFacts) -> Plan:
    """The plan returned when no feasible plan exists (or none was found in time)."""
    return Plan(problem.model, problem.hardware, problem.execution, problem.objective, problem.batch, (),
                None, None, None, None, False, (solver.message,) if solver.message else (), solver, problem.dtype,
                problem.family, 0)
