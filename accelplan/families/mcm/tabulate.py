"""A study on a chiplet package as a :class:`~accelplan.problem.Problem`: segment tables, or replica tables."""

from __future__ import annotations

import numpy as np

from dataclasses import replace

from ...execution import ExecutionModel, Form
from ...objective import Objective
from ...execution.segments import streamed_energy, streamed_time
from ...problem import Layer, Problem, SegmentTables, group_layers
from . import costs


def _configs(hw, execution: ExecutionModel) -> list[costs.ClusterConfig]:
    """The cluster sizes priced: the whole package always (a single-cluster execution runs on nothing else)."""
    n_chiplets = hw.mesh[0] * hw.mesh[1]
    full = costs.cluster_shape(hw, n_chiplets)
    return [full] if execution.single else [c for c in costs.menu(hw) if c.units != n_chiplets] + [full]


def _trailing(group) -> tuple:
    """The element-wise passes after a group's GEMM (the first group's epilogue also holds the passes before it)."""
    return group.epilogue[group.ops.index(group.name):]


def tabulate(study, execution: ExecutionModel, objective: Objective, prune: bool = True) -> Problem:
    """Price every layer on every cluster size with its best mapping (:mod:`.costs`) for ``objective``.

    No configuration is pruned (``prune`` is ignored): a smaller cluster is never dominated (it leaves chiplets to others).
    """
    hw, dtype, batch = study.hardware, study.model.dtype, study.batch
    n_chiplets = hw.mesh[0] * hw.mesh[1]
    configs = _configs(hw, execution)
    groups = group_layers(study)
    shape = (len(groups), len(configs))
    time_s, energy_j, w_chip, buf_chip = (np.zeros(shape) for _ in range(4))
    chosen, layers = [], []
    for li, group in enumerate(groups):
        row = []
        for ci, cfg in enumerate(configs):
            best = costs.best_mapping(costs.mappings(hw, dtype, group.gemm, cfg, list(group.epilogue)), objective.name,
                                      hw.energy.static_power * cfg.units / n_chiplets)
            row.append(best)
            time_s[li, ci], energy_j[li, ci] = best.time_s, best.energy_j
            w_chip[li, ci], buf_chip[li, ci] = best.weight_bytes_per_chiplet, best.buffer_bytes_per_chiplet
        chosen.append(tuple(row))
        layers.append(Layer(group.name, group.ops, group.gemm, costs.weight_bytes(group.gemm, dtype) / batch))
    gemms = [g.gemm for g in groups]
    boundary = np.array(costs.boundary_bytes(gemms, [_trailing(g) for g in groups], dtype))
    tables = SegmentTables(
        chiplets=n_chiplets, mappings=tuple(chosen), sram_weight_bytes=w_chip, sram_buffer_bytes=buf_chip,
        sram_bytes=hw.chiplet.sram, weight_bytes=np.array([costs.weight_bytes(g, dtype) for g in gemms]),
        boundary_bytes=boundary, dram_bandwidth=costs.dram_bandwidth(hw), dram_byte_j=costs.dram_byte_energy(hw),
        reconfiguration_s=hw.reconfiguration, dram_access_j=costs.dram_access_energy(hw),
        nop_byte_hop_j=8 * hw.nop.energy_per_bit, dram_hops=costs.dram_hops(hw, configs), term_names=costs.TERMS)
    cons = study.spec.constraints
    return Problem(
        name=study.name, model=study.model.name, hardware=hw.name, family=hw.family, dtype=dtype,
        execution=execution, objective=objective, batch=batch, max_accelerators=cons.max_accelerators or n_chiplets,
        latency_max_s=cons.latency_max_ms / 1e3 if cons.latency_max_ms else None,
        throughput_min=cons.throughput_min,
        layers=tuple(layers), configs=tuple(configs), time_s=time_s, energy_j=energy_j,
        resources=("chiplets",), usage=np.array([[c.units] for c in configs], dtype=float),
        capacity=np.array([float(n_chiplets)]), ddr_period_s=0.0, static_power_w=hw.energy.static_power,
        peak_macs_per_unit_s=costs.peak_macs_per_s(hw, dtype), tables=tables)


def replica_tables(study, execution: ExecutionModel, objective: Objective, prune: bool = True) -> Problem:
    """The package as data-parallel replicas: every cluster size runs the whole model, its tables per input.

    From the segment tables of the same clusters: a cluster whose chiplets hold all its weights (and the largest
    layer buffer) loads them once per batch (``W_l / (dram_bw * b)`` per input); else it streams them for every
    input at its share of the DRAM bandwidth (``dram_bw * g / N``: replicas of ``g`` of the ``N`` chiplets share the
    controllers), double-buffered and overlapped with the compute (each layer's ``streamed_time_s``, :mod:`.costs`). Each byte from DRAM costs ``dram_byte_j`` (the mean NoP hops included). The shared
    floor on the period is the model's input read and output written (``ddr_period_s``).
    """
    seg = tabulate(study, execution, objective, prune)
    t, b = seg.segments, seg.batch
    fits = t.sram_weight_bytes.sum(axis=0) + t.sram_buffer_bytes.max(axis=0) <= t.sram_bytes * (1 + 1e-12)
    weights = t.weight_bytes[:, None]
    time_s = np.where(fits[None, :], seg.time_s + weights / (t.dram_bandwidth * b), streamed_time(seg))
    dram_bytes = np.where(fits[None, :], weights / b, weights)
    io_bytes = float(t.boundary_bytes[0] + t.boundary_bytes[-1])
    layer_j = np.where(fits[None, :], seg.energy_j, streamed_energy(seg))
    return replace(seg, time_s=time_s, energy_j=layer_j + dram_bytes * t.dram_byte_j,
                   ddr_period_s=io_bytes / t.dram_bandwidth, tables=None,
                   layers=tuple(replace(layer, ddr_bytes=io_bytes / len(seg.layers)) for layer in seg.layers))


#: the tables of each plan form the family offers
TABLES = {Form.SEGMENTS: tabulate, Form.REPLICATED: replica_tables}
