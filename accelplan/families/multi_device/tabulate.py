"""A study on a chain of devices as a devices-form :class:`~accelplan.problem.Problem`."""

from __future__ import annotations

import numpy as np

from ...errors import SpecError, SpecIssue
from ...execution import ExecutionModel
from ...objective import Objective
from ...problem import DeviceTables, Layer, Problem, group_layers
from . import costs


def _kinds(hw) -> tuple[list, tuple[int, ...]]:
    """The distinct device kinds and the kind of each device position of the chain."""
    kinds, chain = [], []
    for group in hw.devices:
        if group.device not in kinds:
            kinds.append(group.device)
        chain += [kinds.index(group.device)] * group.count
    return kinds, tuple(chain)


def _refuse_oversized(study, groups, kinds, dtype: str) -> None:
    """A layer whose weights exceed every device's on-chip plus off-chip memory cannot run on one device; splitting a
    layer across devices (tensor parallelism) is not modelled, so such a model is refused with the layer named."""
    room = max(costs.capacity(d)[3] + d.memory.capacity for d in kinds)
    for g in groups:
        w = costs.weight_bytes(g.gemm, dtype)
        if w > room:
            raise SpecError(study.file or study.model.name, [SpecIssue(
                f"layer {g.name!r} has {w / 1e6:.4g} MB of weights, more than any device holds on and off chip "
                f"({room / 1e6:.4g} MB); splitting one layer across devices (tensor parallelism) is not modelled: "
                "use devices with more memory or a smaller dtype", "model")])


def tabulate(study, execution: ExecutionModel, objective: Objective, prune: bool = True) -> Problem:
    """Price every layer's block on every configuration of the menu, on every device kind (``prune`` unused)."""
    hw, dtype, batch = study.hardware, study.model.dtype, study.batch
    configs = costs.menu(hw)
    kinds, chain = _kinds(hw)
    groups = group_layers(study)
    shape = (len(kinds), len(groups), len(configs))
    time_s, energy_j = np.zeros(shape), np.zeros(shape)
    par = np.array([(c.pm, c.pk, c.pn) for c in configs], dtype=float)
    onchip = np.array([c.onchip for c in configs])
    for li, group in enumerate(groups):
        g = group.gemm
        cyc = g.count * np.ceil(g.m / par[:, 0]) * np.ceil(g.k / par[:, 1]) * np.ceil(g.n / par[:, 2])  # costs.cycles
        w = costs.weight_bytes(g, dtype)
        for k, device in enumerate(kinds):
            time_s[k, li] = cyc / device.clock
            traffic = np.where(onchip, w * device.energy.onchip_byte, w / batch * 8 * device.memory.energy_per_bit)
            energy_j[k, li] = g.macs * device.energy.mac[dtype] + traffic  # costs.energy_j, for every configuration
    gemms = [g.gemm for g in groups]
    _refuse_oversized(study, groups, kinds, dtype)
    tables = DeviceTables(
        kinds=tuple(d.name for d in kinds), parts=tuple(d.part for d in kinds), chain=chain, time_s=time_s, energy_j=energy_j,
        fabric=np.array([costs.fabric(hw, dtype, c) for c in configs], dtype=float),
        capacity=np.array([costs.capacity(d) for d in kinds], dtype=float),
        weight_bytes=np.array([costs.weight_bytes(g, dtype) for g in gemms], dtype=float),
        onchip=np.array([c.onchip for c in configs]),
        memory_bandwidth=np.array([d.memory.bandwidth for d in kinds]), clock_hz=np.array([d.clock for d in kinds]),
        memory_capacity=np.array([d.memory.capacity for d in kinds]),
        static_power_w=np.array([d.static_power for d in kinds]),
        boundary_bytes=np.array([costs.input_bytes(gemms[0], dtype)] + [costs.activation_bytes(g, dtype) for g in gemms],
                                dtype=float),
        link_bandwidth=hw.link.bandwidth, link_latency_s=hw.link.latency, link_j_per_byte=8 * hw.link.energy_per_bit)
    cons = study.spec.constraints
    first = kinds[0]
    return Problem(
        name=study.name, model=study.model.name, hardware=hw.name, family=hw.family, dtype=dtype,
        execution=execution, objective=objective, batch=batch, max_accelerators=min(cons.max_accelerators or len(chain), len(chain)),
        latency_max_s=cons.latency_max_ms / 1e3 if cons.latency_max_ms else None, throughput_min=cons.throughput_min,
        layers=tuple(Layer(g.name, g.ops, g.gemm, costs.weight_bytes(g.gemm, dtype) / batch) for g in groups),
        configs=tuple(configs), time_s=time_s[0], energy_j=energy_j[0],
        resources=("dsp", "lut", "ff"), usage=tables.fabric, capacity=tables.capacity[0, :3],
        ddr_period_s=0.0, static_power_w=float(first.static_power),
        peak_macs_per_unit_s=float(first.clock), tables=tables)
