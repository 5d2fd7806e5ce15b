"""A study on a Versal AI Engine device as a pipeline-form :class:`~accelplan.problem.Problem`."""

from __future__ import annotations

import numpy as np

from ...errors import SpecError, SpecIssue
from ...execution import ExecutionModel
from ...objective import Objective
from ...problem import Layer, Problem, group_layers, prune_dominated
from . import costs


def tabulate(study, execution: ExecutionModel, objective: Objective, prune: bool = True) -> Problem:
    """Price every layer on every accelerator configuration of the menu; drop dominated configurations.

    Each layer's DDR traffic is decided once, the same on every configuration (:func:`costs.memory_plan`: the first
    layer reads its input from DDR, the last writes its result there); the period's DDR term is the DDR bytes
    per input of all layers over the channel's total bandwidth (:func:`costs.channel_bandwidth`).
    """
    hw, dtype, batch = study.hardware, study.model.dtype, study.batch
    configs = costs.menu(hw, dtype)
    if not configs:
        raise SpecError(study.file or hw.name, [SpecIssue(
            f"hardware {hw.name!r} offers no accelerator configuration for dtype {dtype!r} "
            "(check menu.array_dims, menu.engine_tiles and the engine local memory)", "hardware")])
    groups = group_layers(study)
    time_s = np.zeros((len(groups), len(configs)))
    energy_j = np.zeros_like(time_s)
    layers = []
    for li, group in enumerate(groups):
        memory = costs.memory_plan(hw, dtype, group.gemm, batch, first=li == 0, last=li == len(groups) - 1)
        epilogue = [costs.elementwise_cost(hw, dtype, e) for e in group.epilogue]
        ep_t, ep_e = sum(c.time_s for c in epilogue), sum(c.energy_j for c in epilogue)
        for ci, cfg in enumerate(configs):
            cost = costs.gemm_cost(hw, dtype, group.gemm, cfg, batch, memory)
            time_s[li, ci] = cost.time_s + ep_t
            energy_j[li, ci] = cost.energy_j + ep_e
        layers.append(Layer(group.name, group.ops, group.gemm, memory.ddr_bytes))
    cap = costs.budgets(hw)
    resources = tuple(cap)
    usage = np.array([[cfg.resources()[r] for r in resources] for cfg in configs], dtype=float)
    if prune:
        keep = prune_dominated(time_s, energy_j, usage)
        configs = [configs[i] for i in keep]
        time_s, energy_j, usage = time_s[:, keep], energy_j[:, keep], usage[keep]
    cons = study.spec.constraints
    return Problem(
        name=study.name, model=study.model.name, hardware=hw.name, family=hw.family, dtype=dtype,
        execution=execution, objective=objective, batch=batch, max_accelerators=cons.max_accelerators or 6,
        latency_max_s=cons.latency_max_ms / 1e3 if cons.latency_max_ms else None,
        throughput_min=cons.throughput_min,
        layers=tuple(layers), configs=tuple(configs), time_s=time_s, energy_j=energy_j,
        resources=resources, usage=usage, capacity=np.array([cap[r] for r in resources], dtype=float),
        ddr_period_s=sum(layer.ddr_bytes for layer in layers) / costs.channel_bandwidth(hw),
        static_power_w=hw.energy.static_power, peak_macs_per_unit_s=costs.peak_macs_per_s(hw, dtype),
        resource_units=tuple("B" if r.endswith("bytes") else "" for r in resources))
