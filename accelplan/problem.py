"""The problem: a study reduced to tables of costs that formulations and strategies read.

Operators are grouped into *layers*: a GEMM-like operator (linear, matmul, attention part,
convolution) with the cheap element-wise operators that follow it fused as its epilogue (they
run on the same accelerator, priced by bandwidth). Each layer is priced on every candidate
accelerator configuration; dominated configurations are pruned.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .families.mcm import costs as mcm
from .families.versal_aie import costs as versal_aie
from .families.mcm.costs import ClusterConfig, Mapping
from .families.versal_aie.costs import AIEConfig
from .dominance import pareto_min
from .errors import SpecError, SpecIssue
from .specs.lowering import Elementwise, Gemm, lower
from .specs.study import Study


@dataclass(frozen=True)
class Layer:
    """A GEMM-like operator and its fused element-wise epilogue; the unit a plan assigns."""

    name: str
    ops: tuple[str, ...]
    gemm: Gemm
    ddr_bytes: float  # per input


@dataclass(frozen=True, eq=False)
class SegmentTables:
    """What the segment model of a chiplet package needs beyond ``time_s``/``energy_j`` (see :mod:`accelplan.execution.segments`).

    Per layer ``l`` and cluster configuration ``c``: the mapping chosen (partition factors, tile),
    the weight and buffer bytes each chiplet holds; per layer its weight bytes; per cut point ``p``
    (0..L) the bytes per input that cross DRAM when a segment starts or ends there; per placement
    (snake offset ``u``) and configuration the mean NoP hops from the DRAM controllers.
    """

    chiplets: int
    mappings: tuple[tuple[Mapping, ...], ...]
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


@dataclass(frozen=True, eq=False)
class Problem:
    """Everything a strategy needs, tabulated: no YAML, no hardware objects.

    ``time_s[l, c]`` and ``energy_j[l, c]`` are the per-input time and energy of layer ``l`` on
    configuration ``c``; ``usage[c, r]`` is what configuration ``c`` takes of resource ``r``.
    """

    name: str
    model: str
    hardware: str
    dtype: str
    execution: str
    objective: str
    batch: int
    max_accelerators: int
    latency_max_s: float | None
    throughput_min: float | None
    layers: tuple[Layer, ...]
    configs: tuple[AIEConfig, ...] | tuple[ClusterConfig, ...]
    time_s: np.ndarray
    energy_j: np.ndarray
    resources: tuple[str, ...]
    usage: np.ndarray
    capacity: np.ndarray
    ddr_period_s: float
    static_power_w: float
    peak_macs_per_unit_s: float
    family: str = "versal-aie"
    segments: SegmentTables | None = None

    @property
    def n_layers(self) -> int:
        return len(self.layers)

    @property
    def n_configs(self) -> int:
        return len(self.configs)

    @property
    def accelerator_slots(self) -> int:
        """Most accelerators a plan may use under this execution model."""
        if self.family == "mcm":
            return 1 if self.execution == "layer-sequential" else min(self.max_accelerators, self.n_layers)
        return 1 if self.execution == "sequential" else min(self.max_accelerators, self.n_layers)


def group_layers(study: Study) -> list[tuple[str, tuple[str, ...], Gemm, Elementwise | None]]:
    """Fuse element-wise operators into the GEMM before them (leading ones into the first GEMM)."""
    groups: list[list] = []
    pending: list[tuple[str, Elementwise]] = []
    for nop in study.model.ops:
        work = lower(nop.op)
        if isinstance(work, Gemm):
            groups.append([nop.name, [n for n, _ in pending] + [nop.name], work, [e for _, e in pending]])
            pending = []
        elif groups:
            groups[-1][1].append(nop.name)
            groups[-1][3].append(work)
        else:
            pending.append((nop.name, work))
    if not groups:
        raise SpecError(study.file or study.model.name, [SpecIssue(
            f"model {study.model.name!r} has no GEMM-like operator (linear, matmul, attention_qk/pv, conv2d) to plan", "model")])
    return [(name, tuple(ops), gemm, elems) for name, ops, gemm, elems in groups]


def _prune_dominated(configs: list[AIEConfig], time_s: np.ndarray, energy_j: np.ndarray, usage: np.ndarray) -> np.ndarray:
    """Indices (in menu order) of configurations no other configuration beats or ties on every layer and resource.

    A configuration equal to an earlier one on every count is dropped too. Exact comparisons, in
    vectorised blocks (:func:`accelplan.dominance.pareto_min`), so menus of thousands prune in seconds.
    """
    keys = np.concatenate([time_s.T, energy_j.T, usage], axis=1)  # (C, L+L+R)
    return np.sort(pareto_min(keys))


def build_problem(study: Study, prune: bool = True) -> Problem:
    """Tabulate the study's layers on every candidate accelerator (versal-aie) or cluster (mcm) configuration."""
    if study.hardware.family == "mcm":
        return _build_mcm(study)
    hw, dtype, batch = study.hardware, study.model.dtype, study.batch
    configs = versal_aie.menu(hw, dtype)
    if not configs:
        raise SpecError(study.file or hw.name, [SpecIssue(
            f"hardware {hw.name!r} offers no accelerator configuration for dtype {dtype!r} "
            "(check menu.array_dims, menu.engine_tiles and the engine local memory)", "hardware")])
    groups = group_layers(study)
    n_l, n_c = len(groups), len(configs)
    time_s = np.zeros((n_l, n_c))
    energy_j = np.zeros((n_l, n_c))
    layers = []
    for li, (name, ops, gemm, elems) in enumerate(groups):
        epilogue = [versal_aie.elementwise_cost(hw, dtype, e) for e in elems]
        ep_t, ep_e = sum(c.time_s for c in epilogue), sum(c.energy_j for c in epilogue)
        for ci, cfg in enumerate(configs):
            cost = versal_aie.gemm_cost(hw, dtype, gemm, cfg, batch)
            time_s[li, ci] = cost.time_s + ep_t
            energy_j[li, ci] = cost.energy_j + ep_e
        layers.append(Layer(name, ops, gemm, versal_aie.ddr_bytes(gemm, dtype, batch)))
    cap = versal_aie.budgets(hw)
    resources = tuple(cap)
    usage = np.array([[cfg.resources()[r] for r in resources] for cfg in configs], dtype=float)
    if prune:
        keep = _prune_dominated(configs, time_s, energy_j, usage)
        configs = [configs[i] for i in keep]
        time_s, energy_j, usage = time_s[:, keep], energy_j[:, keep], usage[keep]
    cons = study.spec.constraints
    return Problem(
        name=study.name, model=study.model.name, hardware=hw.name, dtype=dtype,
        execution=study.execution, objective=study.spec.objective, batch=batch,
        max_accelerators=cons.max_accelerators or 6,
        latency_max_s=cons.latency_max_ms / 1e3 if cons.latency_max_ms else None,
        throughput_min=cons.throughput_min,
        layers=tuple(layers), configs=tuple(configs), time_s=time_s, energy_j=energy_j,
        resources=resources, usage=usage, capacity=np.array([cap[r] for r in resources], dtype=float),
        ddr_period_s=sum(layer.ddr_bytes for layer in layers) / hw.ddr.bandwidth,
        static_power_w=hw.energy.static_power,
        peak_macs_per_unit_s=versal_aie.peak_macs_per_s(hw, dtype),
    )


def _build_mcm(study: Study) -> Problem:
    """Tabulate every layer on every cluster size of a chiplet package, with its best mapping (:mod:`accelplan.families.mcm.costs`).

    No configuration is pruned: a smaller cluster is never dominated (it leaves chiplets to others).
    """
    hw, dtype, batch = study.hardware, study.model.dtype, study.batch
    n_chiplets = hw.mesh[0] * hw.mesh[1]
    full = mcm.cluster_shape(hw, n_chiplets)  # always offered: layer-sequential runs on nothing else
    configs = [full] if study.execution == "layer-sequential" else [c for c in mcm.menu(hw) if c.units != n_chiplets] + [full]
    groups = group_layers(study)
    n_l, n_c = len(groups), len(configs)
    time_s, energy_j = np.zeros((n_l, n_c)), np.zeros((n_l, n_c))
    w_chip, buf_chip = np.zeros((n_l, n_c)), np.zeros((n_l, n_c))
    chosen: list[tuple[Mapping, ...]] = []
    layers = []
    for li, (name, ops, gemm, elems) in enumerate(groups):
        row = []
        for ci, cfg in enumerate(configs):
            best = mcm.best_mapping(mcm.mappings(hw, dtype, gemm, cfg, elems), study.spec.objective,
                                    hw.energy.static_power * cfg.units / n_chiplets)
            row.append(best)
            time_s[li, ci], energy_j[li, ci] = best.time_s, best.energy_j
            w_chip[li, ci], buf_chip[li, ci] = best.weight_bytes_per_chiplet, best.buffer_bytes_per_chiplet
        chosen.append(tuple(row))
        layers.append(Layer(name, ops, gemm, mcm.weight_bytes(gemm, dtype) / batch))
    gemms = [g[2] for g in groups]
    boundary = np.array([mcm.input_bytes(gemms[0], dtype)]
                        + [2 * mcm.output_bytes(g, dtype) for g in gemms[:-1]] + [mcm.output_bytes(gemms[-1], dtype)])
    cons = study.spec.constraints
    tables = SegmentTables(
        chiplets=n_chiplets, mappings=tuple(chosen), sram_weight_bytes=w_chip, sram_buffer_bytes=buf_chip,
        sram_bytes=hw.chiplet.sram, weight_bytes=np.array([mcm.weight_bytes(g, dtype) for g in gemms]),
        boundary_bytes=boundary, dram_bandwidth=mcm.dram_bandwidth(hw), dram_byte_j=mcm.dram_byte_energy(hw),
        reconfiguration_s=hw.reconfiguration, dram_access_j=mcm.dram_access_energy(hw),
        nop_byte_hop_j=8 * hw.nop.energy_per_bit, dram_hops=mcm.dram_hops(hw, configs))
    return Problem(
        name=study.name, model=study.model.name, hardware=hw.name, dtype=dtype,
        execution=study.execution, objective=study.spec.objective, batch=batch,
        max_accelerators=cons.max_accelerators or n_chiplets,
        latency_max_s=cons.latency_max_ms / 1e3 if cons.latency_max_ms else None,
        throughput_min=cons.throughput_min,
        layers=tuple(layers), configs=tuple(configs), time_s=time_s, energy_j=energy_j,
        resources=("chiplets",), usage=np.array([[c.units] for c in configs], dtype=float),
        capacity=np.array([float(n_chiplets)]), ddr_period_s=0.0, static_power_w=hw.energy.static_power,
        peak_macs_per_unit_s=mcm.peak_macs_per_s(hw, dtype), family="mcm", segments=tables)
