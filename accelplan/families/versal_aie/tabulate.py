"""A study on a Versal AI Engine device as a pipeline-form :class:`~accelplan.problem.Problem`."""

from __future__ import annotations

import numpy as np

from ...errors import SpecError, SpecIssue
from ...execution import ExecutionModel
from ...objective import Objective
from ...dominance import pareto_min
from ...problem import Layer, LayerBounds, Problem, binding_terms, group_layers
from . import costs


def binding_resources(usage: np.ndarray, capacity: np.ndarray, slots: int) -> np.ndarray:
    """Mask of the resources a plan of at most ``slots`` accelerators can run out of.

    A plan's use of resource ``r`` is at most ``slots * max_c usage[c, r]``, and, for every other resource ``s``,
    at most ``capacity[s] * max_c usage[c, r] / usage[c, s]`` (its accelerators fit ``s``). A resource whose
    least such bound is within its capacity never limits a plan: no configuration is kept for using less of it.
    """
    bound = slots * usage.max(axis=0, initial=0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        for s in range(usage.shape[1]):
            if np.all(usage[:, s] > 0):
                other = capacity[s] * (usage / usage[:, [s]]).max(axis=0, initial=0.0)
                other[s] = np.inf  # a resource's own budget bounds its use: that is the constraint, not slack
                bound = np.minimum(bound, other)
    return bound > capacity


def prune_configs(time_s: np.ndarray, energy_j: np.ndarray, usage: np.ndarray, capacity: np.ndarray, slots: int,
                  energy: bool) -> np.ndarray:
    """Indices (in menu order) of the configurations kept: those no other one beats or ties on every layer's time,
    every resource a plan can run out of (:func:`binding_resources`) and, when ``energy`` (the objective is energy),
    every layer's energy. Replacing a pruned configuration by the one that beats it lengthens no stage, the period,
    the latency nor a binding resource's use, so the optimum of a throughput or latency objective (and of energy,
    whose layers are then compared too) is kept. Of configurations tied on every key, the one of least total energy
    over the layers is kept (then the first in menu order), so a plan's energy is not made worse by a tie.
    """
    order = np.argsort(energy_j.sum(axis=0), kind="stable")
    keys = [time_s.T, usage[:, binding_resources(usage, capacity, slots)]] + ([energy_j.T] if energy else [])
    kept = pareto_min(np.concatenate(keys, axis=1)[order])
    return np.sort(order[kept])


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
    terms_s = np.zeros((len(groups), len(configs), len(costs.TERMS)))
    layers = []
    for li, group in enumerate(groups):
        memory = costs.memory_plan(hw, dtype, group.gemm, batch, first=li == 0, last=li == len(groups) - 1)
        epilogue = [costs.elementwise_cost(hw, dtype, e) for e in group.epilogue]
        ep_t, ep_e = sum(c.time_s for c in epilogue), sum(c.energy_j for c in epilogue)
        for ci, cfg in enumerate(configs):
            cost = costs.gemm_cost(hw, dtype, group.gemm, cfg, batch, memory)
            time_s[li, ci] = cost.time_s + ep_t
            energy_j[li, ci] = cost.energy_j + ep_e
            terms_s[li, ci] = (*cost.terms, ep_t)
        layers.append(Layer(group.name, group.ops, group.gemm, memory.ddr_bytes))
    cap = costs.budgets(hw)
    resources = tuple(cap)
    usage = np.array([[cfg.resources()[r] for r in resources] for cfg in configs], dtype=float)
    bounds = LayerBounds(costs.TERMS, terms_s, binding_terms(terms_s, costs.OVERLAPPED))
    cons = study.spec.constraints
    max_accelerators = cons.max_accelerators or 6
    if prune:
        slots = 1 if execution.single else max_accelerators
        keep = prune_configs(time_s, energy_j, usage, np.array([cap[r] for r in resources], dtype=float), slots,
                             energy=objective == "energy")
        configs = [configs[i] for i in keep]
        time_s, energy_j, usage = time_s[:, keep], energy_j[:, keep], usage[keep]
        bounds = bounds.kept(keep)
    return Problem(
        name=study.name, model=study.model.name, hardware=hw.name, family=hw.family, dtype=dtype,
        execution=execution, objective=objective, batch=batch, max_accelerators=max_accelerators,
        latency_max_s=cons.latency_max_ms / 1e3 if cons.latency_max_ms else None,
        throughput_min=cons.throughput_min,
        layers=tuple(layers), configs=tuple(configs), time_s=time_s, energy_j=energy_j,
        resources=resources, usage=usage, capacity=np.array([cap[r] for r in resources], dtype=float),
        ddr_period_s=sum(layer.ddr_bytes for layer in layers) / costs.channel_bandwidth(hw),
        static_power_w=hw.energy.static_power, peak_macs_per_unit_s=costs.peak_macs_per_s(hw, dtype),
        resource_units=tuple("B" if r.endswith("bytes") else "" for r in resources), bounds=bounds)
