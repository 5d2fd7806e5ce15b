"""The segment model of a chiplet package: how a plan of segments and clusters is priced.

A plan cuts the layer chain into temporal *segments* run one after another; each segment splits
its layers into *clusters* of consecutive layers, each on its own group of chiplets (the chiplets
of one segment's clusters add up to at most the package), and the clusters of a segment are
pipelined over the batch. Per batch of ``b`` inputs, in seconds:

- cluster ``c`` (layers ``l``, configuration ``g``): ``T_c = sum_l time[l, g]`` per input; its
  weights ``W_c`` enter from DRAM once per batch (``O_c = W_c / dram_bw``) when every chiplet holds
  its share (``sum_l w[l, g] + max_l buffer[l, g] <= SRAM``), else they stream from DRAM for each
  input at the cluster's share of the DRAM bandwidth (``dram_bw * g / N``; ``g`` of the package's ``N``
  chiplets: the clusters of a segment run at once, and their shares add up to at most the whole
  bandwidth), double-buffered so the streaming overlaps the compute it feeds:
  ``T_c = sum_l streamed[l, g]``, ``O_c = 0``, where ``streamed[l, g]`` is the family's per-layer time
  when its weights stream (the mapping's ``streamed_time_s``; mcm: the slower of compute and streaming
  plus one tile's exposed fetch, :mod:`accelplan.families.mcm.costs`), not ``time + W / share``. A layer
  whose share alone does not fit runs blocked from DRAM: its re-reads are in ``time[l, g]``
  (:mod:`accelplan.families.mcm.memory`);
- segment ``s``: ``sum_c T_c + (b - 1) * max_c T_c`` (fill, then the slowest cluster paces the batch)
  ``+ sum_c O_c + reconfiguration + b * boundary_bytes[start] / dram_bw`` (the activations that
  cross DRAM where the segment starts, at their real size: the model input, or the previous
  segment's output written and the next layer's input read back);
- batch time ``T = sum_s segment times + b * boundary_bytes[L] / dram_bw`` (the output written);
  throughput ``= b / T``, latency ``= T``, period ``= T / b``;
- energy per inference ``= (b * sum_l energy[l, g] + DRAM bytes * e_dram + static power * T) / b``;
  a cluster's weights travel from the nearest DRAM controller to where it sits: a segment's
  clusters take consecutive runs of the mesh's snake order, so the hops depend on the chiplets the
  earlier clusters of its segment hold (:func:`placement_energy`).

Every term is a sum over clusters or over segment starts except ``(b - 1) * max_c T_c``, so the
objective (time or energy) is ``sum of separable terms + w * sum_s (sum_c T_c + (b - 1) max_c T_c)``
with ``w = 1`` for time and ``w = static power`` for energy: :func:`objective_terms` gives those
pieces and the dp strategy, the exhaustive strategy and the evaluator all price plans with them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from ..plan import AcceleratorPlan, Budget, LayerTime, Plan, SolverFacts, priced_plan
from . import Metrics, bound_violations
from .bounds import bound_shares, layer_time
from .form import PlanForm
from .prefix import prefix_sums

if TYPE_CHECKING:
    from ..problem import Problem


@dataclass(frozen=True, eq=False)
class SegmentTables:
    """What the segment model needs beyond ``time_s``/``energy_j`` (see the module docstring).

    Per layer ``l`` and cluster configuration ``c``: the mapping chosen (the family's record of
    partition and tile), the weight and buffer bytes each unit holds; per layer its weight bytes;
    per cut point ``p`` (0..L) the bytes per input that cross DRAM when a segment starts or ends
    there; per placement (snake offset ``u``) and configuration the mean hops from the DRAM controllers.
    """

    chiplets: int
    mappings: tuple[tuple[Any, ...], ...]
    sram_weight_bytes: np.ndarray  # (L, C) per chiplet
    sram_buffer_bytes: np.ndarray  # (L, C) per chiplet
    sram_bytes: float  # per chiplet
    weight_bytes: np.ndarray  # (L,)
    boundary_bytes: np.ndarray  # (L+1,)
    dram_bandwidth: float
    dram_byte_j: float  # per byte to or from DRAM, NoP hops from the controllers averaged over the mesh
    reconfiguration_s: float
    dram_access_j: float  # per byte, the DRAM access alone
    nop_byte_hop_j: float  # per byte per NoP hop
    dram_hops: np.ndarray  # (chiplets+1, C): mean hops from DRAM to a cluster placed at snake offset u (inf: no room)
    term_names: tuple[str, ...] = ()  # the terms of a layer's time the mappings record (``terms``, ``streamed_terms``)


class SegmentGroup(NamedTuple):
    """One cluster of a segment plan: its configuration, its consecutive layers and its temporal segment."""

    config: int
    layers: tuple[int, ...]
    segment: int


MCMGroups = tuple[SegmentGroup, ...]


@dataclass(frozen=True)
class ClusterPlan(AcceleratorPlan):
    """A cluster of chiplets: its rectangle on the mesh, its segment and per layer how it is split."""

    array: tuple[int, int, int] = (1, 1, 1)  # cluster rows x cols x 1
    engine_tile: tuple[int, int, int] = (1, 1, 1)  # the chiplet tile of its first layer
    buffer_bytes: int = 0  # per chiplet: the weights it holds and the largest layer buffer
    segment: int = 0  # temporal segment; clusters of one segment run at the same time
    partitions: tuple[tuple[int, int], ...] = ()  # per layer (weight-shared groups, input-shared groups)
    layer_tiles: tuple[tuple[int, int, int], ...] = ()  # per layer the chiplet tile
    layer_array_use: tuple[float, ...] = ()  # per layer the fraction of the cluster's MAC array its shape fills

    @property
    def tiles(self) -> dict[str, list]:
        return {"array": list(self.array), "layer_tiles": [list(t) for t in self.layer_tiles]}

    def when(self) -> str:
        return f"segment {self.segment}"

    def operator_list(self) -> list[str]:
        """Each layer with its partition (weight-shared x input-shared) and tile."""
        use = self.layer_array_use or (None,) * len(self.layers)
        return [f"{name} (ws{gm}×is{gn}, tile {'x'.join(map(str, tile))}"
                + (f", {u:.0%} of the array filled)" if u is not None else ")")
                for name, (gm, gn), tile, u in zip(self.layers, self.partitions, self.layer_tiles, use)]

    def details(self) -> dict[str, object]:
        return {"segment": self.segment, "partitions": [list(p) for p in self.partitions]}


@dataclass(frozen=True)
class ObjectiveTerms:
    """The objective (per batch: seconds, or joules for energy) split into the pieces the dp sums."""

    weight: float  # w: multiplies sum_c T_c + (b - 1) * max_c T_c
    start: np.ndarray  # (L+1,) cost of a segment starting at p (reconfiguration, boundary activations)
    end: float  # cost of writing the last output


def objective_terms(problem: "Problem", objective: str | None = None) -> ObjectiveTerms:
    """Segment-start and end costs in the units of ``objective`` (default: the problem's)."""
    t = problem.segments
    assert t is not None, "objective_terms needs an mcm problem"
    b = problem.batch
    boundary_s = b * t.boundary_bytes / t.dram_bandwidth
    start_s = t.reconfiguration_s + boundary_s[:-1]
    if (objective or problem.objective) == "energy":
        p = problem.static_power_w
        return ObjectiveTerms(p, np.append(p * start_s + b * t.boundary_bytes[:-1] * t.dram_byte_j, 0.0),
                              p * boundary_s[-1] + b * t.boundary_bytes[-1] * t.dram_byte_j)
    return ObjectiveTerms(1.0, np.append(start_s, 0.0), float(boundary_s[-1]))


@dataclass(frozen=True)
class ClusterTables:
    """Prefix sums over layers of every per-(layer, configuration) table, for O(1) cluster prices."""

    time: np.ndarray  # (L+1, C)
    energy: np.ndarray
    sram_weight: np.ndarray
    weight: np.ndarray  # (L+1,)
    streamed: np.ndarray  # (L+1, C): layer times when the cluster streams its weights
    streamed_energy: np.ndarray  # (L+1, C): layer energies then (the mapping a streaming cluster uses)


def streamed_time(problem: "Problem") -> np.ndarray:
    """``(L, C)``: each layer's time per input on each configuration when its cluster streams its weights from DRAM
    (the mapping's ``streaming_time_s``: streaming overlapped with compute, double-buffered)."""
    t = problem.segments
    assert t is not None
    return np.array([[m.streaming_time_s for m in row] for row in t.mappings], dtype=float).reshape(problem.time_s.shape)


def streamed_energy(problem: "Problem") -> np.ndarray:
    """``(L, C)``: each layer's energy per input when its cluster streams its weights (the mapping used then)."""
    t = problem.segments
    assert t is not None
    return np.array([[m.streaming_energy_j for m in row] for row in t.mappings], dtype=float).reshape(problem.time_s.shape)


def cluster_tables(problem: "Problem") -> ClusterTables:
    t = problem.segments
    assert t is not None
    return ClusterTables(prefix_sums(problem.time_s), prefix_sums(problem.energy_j),
                         prefix_sums(t.sram_weight_bytes), prefix_sums(np.asarray(t.weight_bytes, dtype=float)),
                         prefix_sums(streamed_time(problem)), prefix_sums(streamed_energy(problem)))


def cluster_fits(problem: "Problem", c: int, layers: tuple[int, ...]) -> bool:
    """Whether a cluster of configuration ``c`` holds the weights of ``layers`` (and its largest layer buffer)."""
    t = problem.segments
    need = sum(t.sram_weight_bytes[l, c] for l in layers) + max((t.sram_buffer_bytes[l, c] for l in layers), default=0)
    return bool(need <= t.sram_bytes * (1 + 1e-12))


class ClusterCosts(NamedTuple):
    """Per end of a run of layers on one cluster configuration (see :func:`cluster_costs`)."""

    time_s: np.ndarray  # T_c, seconds per input
    separable: np.ndarray  # X_c, objective units per batch
    energy_j: np.ndarray  # per batch, the NoP hops of the DRAM bytes left out
    fits: np.ndarray  # bool: the weights fit the chiplets' SRAM
    dram_bytes: np.ndarray  # per batch


def cluster_costs(problem: "Problem", tables: ClusterTables, c: int, start: int, ends: np.ndarray,
                  objective: str | None = None) -> ClusterCosts:
    """Clusters of configuration ``c`` over layers ``start..end-1`` for each ``end`` in ``ends`` (ascending).

    Returns per end: ``T_c`` (s per input), the separable cost ``X_c`` in objective units per batch
    (weights from DRAM; for energy also the layers' energy and the static power over ``O_c``), the
    batch energy (J), whether the weights fit the SRAM, and the DRAM bytes per batch. Energy and
    ``X_c`` leave out the NoP hops of those bytes, which depend on where the cluster sits:
    :func:`placement_energy`.
    """
    t = problem.segments
    assert t is not None
    b = problem.batch
    buffer = np.maximum.accumulate(t.sram_buffer_bytes[start:ends[-1], c])[ends - start - 1]
    fits = (tables.sram_weight[ends, c] - tables.sram_weight[start, c]) + buffer <= t.sram_bytes * (1 + 1e-12)
    weights = tables.weight[ends] - tables.weight[start]
    load_s = weights / t.dram_bandwidth
    streamed = tables.streamed[ends, c] - tables.streamed[start, c]  # overlapped, at the cluster's DRAM share
    time_c = np.where(fits, tables.time[ends, c] - tables.time[start, c], streamed)
    dram_bytes = np.where(fits, 1.0, b) * weights
    layer_j = np.where(fits, tables.energy[ends, c] - tables.energy[start, c],
                       tables.streamed_energy[ends, c] - tables.streamed_energy[start, c])
    energy = b * layer_j + dram_bytes * t.dram_access_j
    once_s = np.where(fits, load_s, 0.0)
    if (objective or problem.objective) == "energy":
        separable = energy + problem.static_power_w * once_s
    else:
        separable = once_s
    return ClusterCosts(time_c, separable, energy, fits, dram_bytes)


def placement_energy(problem: "Problem", c: int, offsets: np.ndarray, dram_bytes: np.ndarray) -> np.ndarray:
    """``[i, j]``: joules of the NoP hops of ``dram_bytes[j]`` between the DRAM controllers and a cluster of
    configuration ``c`` placed at snake offset ``offsets[i]`` (the chiplets earlier clusters of its segment hold).
    A cluster past the package's end (an infeasible plan, priced for heuristics' sake) sits at the last place it fits."""
    t = problem.segments
    offsets = np.minimum(offsets, t.chiplets - problem.configs[c].units)
    return t.nop_byte_hop_j * t.dram_hops[offsets, c][:, None] * dram_bytes[None, :]


def segment_rules(problem: "Problem") -> tuple[int, list[int], int]:
    """Per execution model: most layers per cluster, allowed configurations, most clusters per segment."""
    n_l = problem.n_layers
    full = [c for c, cfg in enumerate(problem.configs) if cfg.units == problem.segments.chiplets]
    if problem.execution.single:
        return n_l, full, 1
    if problem.execution.one_layer:
        return 1, list(range(problem.n_configs)), problem.accelerator_slots
    return n_l, list(range(problem.n_configs)), problem.accelerator_slots


def layout_violations(problem: "Problem", groups: MCMGroups) -> list[str]:
    """Why ``groups`` is not a chain of segments of clusters of consecutive layers (then it cannot be priced)."""
    out = []
    if sorted(l for _, ls, _ in groups for l in ls) != list(range(problem.n_layers)):
        out.append("every layer must be in exactly one cluster")
    if any(not ls or list(ls) != list(range(ls[0], ls[-1] + 1)) for _, ls, _ in groups):
        out.append("a cluster must run a non-empty run of consecutive layers")
        return out
    segs = [s for _, _, s in sorted(groups, key=lambda g: g[1][0])]
    if segs != sorted(segs) or sorted(set(segs)) != list(range(len(set(segs)))):
        out.append("segments must be numbered 0, 1, ... along the layer chain, each a run of consecutive clusters")
    return out


def segment_use(problem: "Problem", groups: MCMGroups) -> dict[int, tuple[int, int]]:
    """Per segment: (chiplets its clusters hold, cluster count)."""
    out: dict[int, tuple[int, int]] = {}
    for c, _, s in groups:
        used, count = out.get(s, (0, 0))
        out[s] = (used + problem.configs[c].units, count + 1)
    return out


def rule_violations(problem: "Problem", groups: MCMGroups) -> list[str]:
    """The execution model's rules and the package: chiplets and clusters per segment."""
    out = []
    max_len, allowed, max_clusters = segment_rules(problem)
    if any(len(ls) > max_len for _, ls, _ in groups):
        out.append(f"{problem.execution} runs one layer per cluster")
    if any(c not in allowed for c, _, _ in groups):
        out.append(f"{problem.execution} runs every layer on all {problem.segments.chiplets} chiplets")
    for s, (used, count) in sorted(segment_use(problem, groups).items()):
        if used > problem.segments.chiplets:
            out.append(f"segment {s}: clusters use {used} chiplets of {problem.segments.chiplets}")
        if count > max_clusters:
            out.append(f"segment {s}: {count} clusters exceed the limit of {max_clusters}")
    return out


@dataclass(frozen=True)
class SegmentMetrics:
    busy_s: tuple[float, ...]  # T_c per cluster, in the order given
    fits: tuple[bool, ...]
    batch_time_s: float
    energy_j: float  # per inference
    segments: int


def price(problem: "Problem", groups: MCMGroups) -> SegmentMetrics:
    """Batch time, energy and objective of a (structurally valid) plan; see the module docstring."""
    tables = cluster_tables(problem)
    terms = objective_terms(problem, "throughput")
    t, b = problem.segments, problem.batch
    busy, fits, seg_busy, placed = [], [], {}, {}
    once_s = energy_batch = 0.0
    for c, ls, s in groups:
        t_c, x_c, e_c, fit, moved = (v[0] for v in cluster_costs(problem, tables, c, ls[0], np.array([ls[-1] + 1]), "throughput"))
        offset = placed.get(s, 0)
        placed[s] = offset + problem.configs[c].units
        e_c += float(placement_energy(problem, c, np.array([offset]), np.array([moved]))[0, 0])
        t_c, x_c, e_c = float(t_c), float(x_c), float(e_c)
        busy.append(t_c)
        fits.append(bool(fit))
        once_s += x_c
        energy_batch += e_c
        seg_busy.setdefault(s, []).append(t_c)
    starts = [min(ls[0] for _, ls, seg in groups if seg == s) for s in seg_busy]
    pipelined = sum(sum(v) + (b - 1) * max(v) for v in seg_busy.values())
    batch_time = once_s + pipelined + sum(terms.start[p] for p in starts) + terms.end
    energy_batch += (problem.static_power_w * batch_time
                     + b * t.dram_byte_j * sum(t.boundary_bytes[p] for p in [*starts, problem.n_layers]))
    return SegmentMetrics(tuple(busy), tuple(fits), float(batch_time), float(energy_batch / b), len(seg_busy))


def metrics(problem: "Problem", groups: MCMGroups, check_bounds: bool = True) -> Metrics:
    """A plan's metrics per input: period = batch time / batch, latency = batch time (infinite when it cannot be priced)."""
    violations = layout_violations(problem, groups)
    if violations:
        return Metrics(tuple(0.0 for _ in groups), float("inf"), float("inf"), float("inf"), tuple(violations))
    violations = rule_violations(problem, groups)
    m = price(problem, groups)
    period = m.batch_time_s / problem.batch
    if check_bounds:
        violations += bound_violations(problem, m.batch_time_s, period)
    return Metrics(m.busy_s, period, m.batch_time_s, m.energy_j, tuple(violations))


def _schedule(groups: MCMGroups, busy: tuple[float, ...], batch: int) -> list[tuple[float, float]]:
    """(start, pace) of each cluster in one batch: segments one after another, each pipelined at its slowest cluster.

    Fixed costs (weights loaded once, reconfiguration, DRAM round trips) are not placed in time.
    """
    spans: dict[int, list[float]] = {}
    for g, b in zip(groups, busy):
        spans.setdefault(g.segment, []).append(b)
    offsets, t = {}, 0.0
    for s in sorted(spans):
        offsets[s] = t
        t += sum(spans[s]) + (batch - 1) * max(spans[s])
    out, within = [], {}
    for g, b in zip(groups, busy):
        out.append((offsets[g.segment] + within.get(g.segment, 0.0), max(spans[g.segment])))
        within[g.segment] = within.get(g.segment, 0.0) + b
    return out


def _cluster(problem: "Problem", index: int, group: SegmentGroup, busy: float, period: float,
             when: tuple[float, float]) -> ClusterPlan:
    c, ls, s = group
    cfg = problem.configs[c]
    maps = [problem.segments.mappings[l][c] for l in ls]
    if ls and not cluster_fits(problem, c, ls):  # its weights stream: the mappings chosen for that
        maps = [m.as_streamed() for m in maps]
    macs = sum(problem.layers[l].gemm.macs for l in ls)
    return ClusterPlan(
        index=index, config=cfg.label, units=cfg.units, layers=tuple(problem.layers[l].name for l in ls),
        ops=tuple(op for l in ls for op in problem.layers[l].ops), busy_ms=busy * 1e3,
        utilization=busy / period if period not in (0, float("inf")) else 0.0,
        mac_efficiency=macs / (cfg.units * problem.peak_macs_per_unit_s * busy) if busy else 0.0,
        start_ms=when[0] * 1e3, pace_ms=when[1] * 1e3,
        gemms=tuple((g.m, g.k, g.n, g.count) for g in (problem.layers[l].gemm for l in ls)),
        array=(cfg.rows, cfg.cols, 1), engine_tile=maps[0].tile if maps else (1, 1, 1),
        buffer_bytes=int(sum(m.weight_bytes_per_chiplet for m in maps)
                         + max((m.buffer_bytes_per_chiplet for m in maps), default=0)),
        segment=s, partitions=tuple((m.weight_groups, m.input_groups) for m in maps), layer_tiles=tuple(m.tile for m in maps),
        layer_array_use=tuple(round(float(getattr(m, "utilization", 1.0)), 6) for m in maps))


def cluster_layer_times(problem: "Problem", groups: MCMGroups) -> tuple[LayerTime, ...]:
    """Per layer its time on its cluster (held or streamed weights, the mapping used then), each term of that time
    and the one that sets it, as the family's mappings record them (``terms``; none recorded: times alone)."""
    names = problem.segments.term_names
    out = []
    if layout_violations(problem, groups):
        return ()
    for i, (c, ls, _) in enumerate(groups):
        held = cluster_fits(problem, c, ls)
        for l in ls:
            m = problem.segments.mappings[l][c]
            if not held:
                m = m.as_streamed()
            terms = tuple(getattr(m, "terms" if held else "streamed_terms", ()) or ())
            bound = names[getattr(m, "bound" if held else "streamed_bound", 0)] if names and terms else ""
            out.append(layer_time(problem, i, l, c, m.time_s if held else m.streamed_time_s,
                                  terms if names else (), bound))
    return tuple(out)


def segment_bottleneck(problem: "Problem", groups: MCMGroups, clusters: list[ClusterPlan], batch_time_s: float,
                       times: tuple[LayerTime, ...]) -> str:
    """What sets the batch time: the slowest cluster of the segment whose pipelined time is the largest share (with
    what bounds its layers), or the fixed costs (weights loaded once, reconfiguration, activations crossing DRAM)
    when they take more."""
    b, per = problem.batch, {}
    for g, acc in zip(groups, clusters):
        per.setdefault(g.segment, []).append(acc)
    spans = {s: sum(a.busy_ms for a in accs) + (b - 1) * max(a.busy_ms for a in accs) for s, accs in per.items()}
    total = batch_time_s * 1e3
    fixed = total - sum(spans.values())
    worst = max(spans, key=lambda s: spans[s])
    if fixed > spans[worst]:
        return (f"weights loaded from DRAM, reconfiguration and activations crossing DRAM: {fixed:.4g} ms of the "
                f"{total:.4g} ms batch")
    slow = max(per[worst], key=lambda a: a.busy_ms)
    shares = bound_shares(t for t in times if t.accelerator == slow.index)
    return (f"cluster #{slow.index} ({slow.config}) paces segment {worst}: {slow.busy_ms:.4g} ms per input; the "
            f"segment takes {spans[worst]:.4g} ms of the {total:.4g} ms batch" + (f"; its layers: {shares}" if shares else ""))


def ordered(groups: MCMGroups) -> MCMGroups:
    """Groups with sorted layers, by segment then first layer."""
    out = [SegmentGroup(g.config, tuple(sorted(g.layers)), g.segment) for g in groups]
    return tuple(sorted(out, key=lambda g: (g.segment, g.layers[0] if g.layers else 1 << 30)))


class SegmentsForm(PlanForm):
    """Temporal segments of pipelined clusters on a chiplet package (see the module docstring)."""

    name = "segments"
    group = SegmentGroup
    tables = SegmentTables
    accelerator = ClusterPlan
    replay = "accelplan.simulate.segments:layout"
    streams = False
    has_front = False

    metrics = staticmethod(metrics)  # the module's pricing, as the form's

    def plan(self, problem: "Problem", groups: MCMGroups, solver: SolverFacts | None = None,
             check_bounds: bool = True) -> Plan:
        """Price ``groups`` by the segment model and describe every cluster."""
        groups = ordered(groups)
        met = metrics(problem, groups, check_bounds)
        finite = met.period_s != float("inf")
        schedule = _schedule(groups, met.busy_s, problem.batch) if finite else [(0.0, 0.0)] * len(groups)
        accs = [_cluster(problem, i, g, b, met.period_s, w)
                for i, (g, b, w) in enumerate(zip(groups, met.busy_s, schedule))]
        times = cluster_layer_times(problem, groups)
        budgets = tuple(Budget(f"segment {s}: chiplets ({count} cluster{'s' if count != 1 else ''})", used,
                               problem.segments.chiplets)
                        for s, (used, count) in sorted(segment_use(problem, groups).items())) if finite else ()
        return priced_plan(problem, met, accs, solver, segments=len({g.segment for g in groups}), budgets=budgets,
                           layer_terms=problem.segments.term_names if times else (), layer_times=times,
                           bottleneck=segment_bottleneck(problem, groups, accs, met.latency_s, times) if finite else "")

    def plan_groups(self, problem: "Problem", plan: Plan) -> MCMGroups:
        index = {layer.name: i for i, layer in enumerate(problem.layers)}
        labels = {cfg.label: c for c, cfg in enumerate(problem.configs)}
        return tuple(SegmentGroup(labels[a.config], tuple(index[n] for n in a.layers), a.segment)
                     for a in plan.accelerators)

    def slots_used(self, groups: MCMGroups) -> int:
        """Segments: each is a fresh use of the whole package."""
        return len({g.segment for g in groups})

    def fixed_latency_s(self, problem: "Problem", groups: MCMGroups, analytical: Metrics) -> float:
        """Weights loaded once, reconfiguration and DRAM round trips: the batch time less its pipelined segments."""
        per_segment: dict[int, list[float]] = {}
        for g, busy in zip(groups, analytical.busy_s):
            per_segment.setdefault(g.segment, []).append(busy)
        pipelined = sum(sum(v) + (problem.batch - 1) * max(v) for v in per_segment.values())
        return analytical.latency_s - pipelined


FORM = SegmentsForm()
