"""A study on a chain of devices as a devices-form :class:`~accelplan.problem.Problem`."""

from __future__ import annotations

import numpy as np

from ...errors import SpecError, SpecIssue
from ...execution import ExecutionModel
from ...objective import Objective
from ...problem import DeviceTables, Layer, Problem, Workload, group_layers
from ...specs.lowering import Gemm
from . import costs


def _kinds(hw) -> tuple[list, tuple[int, ...]]:
    """The distinct device kinds and the kind of each device position of the chain."""
    kinds, chain = [], []
    for group in hw.devices:
        if group.device not in kinds:
            kinds.append(group.device)
        chain += [kinds.index(group.device)] * group.count
    return kinds, tuple(chain)


def _refuse_oversized(study, names: list[str], stored: np.ndarray, kinds, splits: tuple[int, ...]) -> None:
    """A layer whose stored bytes (weights, and the KV cache of the sequences in flight) exceed what the largest split
    of it fits on one device, on and off chip, is refused with the layer and the figures named."""
    room = max(costs.capacity(d)[3] + d.memory.capacity for d in kinds)
    worst = int(np.argmax(stored[-1] - room))
    if stored[-1, worst] > room:
        what = "weights and KV cache" if study.workload is not None else "weights"
        split = (f"its {splits[-1]}-way split {stored[-1, worst] / 1e6:.4g} MB per device" if len(splits) > 1 else
                 "the hardware splits no layer across devices (tensor_parallel: [1])")
        raise SpecError(study.file or study.model.name, [SpecIssue(
            f"layer {names[worst]!r} holds {stored[0, worst] / 1e6:.4g} MB of {what}, and {split}: more than any "
            f"device holds on and off chip ({room / 1e6:.4g} MB); use devices with more memory, more tensor-parallel "
            "ways (tensor_parallel), a smaller dtype"
            + (" or fewer sequences in flight" if study.workload is not None else ""), "model")])


def _refuse_cache_overflow(study, hw, kinds, chain, weights: float, cache_per_sequence: float) -> None:
    """The whole chain, on and off chip, must hold the weights and every sequence's KV cache; else the workload is
    refused naming the most sequences (at its context) and the longest context (at its sequences) that fit."""
    w = study.workload
    room = sum(costs.capacity(kinds[k])[3] + kinds[k].memory.capacity for k in chain)
    need = weights + w.sequences * cache_per_sequence
    if need <= room:
        return
    per_position = cache_per_sequence / w.positions
    most_s = int((room - weights) // cache_per_sequence) if room > weights else 0
    most_c = int((room - weights) // (per_position * w.sequences)) if room > weights else 0
    raise SpecError(study.file or study.model.name, [SpecIssue(
        f"{w.sequences} sequences at context {w.positions} need {w.sequences * cache_per_sequence / 1e9:.4g} GB of KV "
        f"cache beside {weights / 1e9:.4g} GB of weights, more than the {len(chain)} devices of {hw.name} hold on and "
        f"off chip ({room / 1e9:.4g} GB): at most {most_s} sequences fit at context {w.positions}, or context "
        f"{most_c} at {w.sequences} sequences", "workload.sequences")])


def _price(hw, kinds, configs, gemms: list[Gemm], dtype: str, batch: int, splits: tuple[int, ...]):
    """Per split, kind, layer and configuration: time and energy per input; per split and layer: the bytes one device
    stores (weights and ``batch`` sequences' KV caches) and sends to all-gather the output."""
    shape = (len(splits), len(kinds), len(gemms), len(configs))
    time_s, energy_j = np.zeros(shape), np.zeros(shape)
    stored, gather = np.zeros(shape[0:1] + shape[2:3]), np.zeros(shape[0:1] + shape[2:3])
    par = np.array([(c.pm, c.pk, c.pn) for c in configs], dtype=float)
    onchip = np.array([c.onchip for c in configs])
    for s, ways in enumerate(splits):
        for li, whole in enumerate(gemms):
            g = costs.split(whole, ways)
            cyc = g.count * np.ceil(g.m / par[:, 0]) * np.ceil(g.k / par[:, 1]) * np.ceil(g.n / par[:, 2])  # costs.cycles
            w, kv = costs.weight_bytes(g, dtype), costs.cache_bytes(g, dtype)
            stored[s, li] = w + batch * kv
            gather[s, li] = costs.gather_bytes(whole, dtype, ways)
            for k, device in enumerate(kinds):
                time_s[s, k, li] = cyc / device.clock
                # per input: weights read whole on chip, once per batch streamed; a token reads its own cache
                traffic = np.where(onchip, (w + kv) * device.energy.onchip_byte,
                                   (w / batch + kv) * 8 * device.memory.energy_per_bit)
                energy_j[s, k, li] = g.macs * device.energy.mac[dtype] + traffic  # costs.energy_j, plus the cache
    return time_s, energy_j, stored, gather


def _tables(study, gemms: list[Gemm], batch: int, splits: tuple[int, ...]) -> DeviceTables:
    hw, dtype = study.hardware, study.model.dtype
    configs = costs.menu(hw)
    kinds, chain = _kinds(hw)
    time_s, energy_j, stored, gather = _price(hw, kinds, configs, gemms, dtype, batch, splits)
    return DeviceTables(
        kinds=tuple(d.name for d in kinds), parts=tuple(d.part for d in kinds), chain=chain, splits=splits,
        block_s=time_s, block_j=energy_j,
        fabric=np.array([costs.fabric(hw, dtype, c) for c in configs], dtype=float),
        capacity=np.array([costs.capacity(d) for d in kinds], dtype=float),
        stored_bytes=stored, kv_bytes=np.array([costs.cache_bytes(g, dtype) for g in gemms], dtype=float),
        gather_bytes=gather, onchip=np.array([c.onchip for c in configs]),
        memory_bandwidth=np.array([d.memory.bandwidth for d in kinds]), clock_hz=np.array([d.clock for d in kinds]),
        memory_capacity=np.array([d.memory.capacity for d in kinds]),
        static_power_w=np.array([d.static_power for d in kinds]),
        boundary_bytes=np.array([costs.input_bytes(gemms[0], dtype)] + [costs.activation_bytes(g, dtype) for g in gemms],
                                dtype=float),
        link_bandwidth=hw.link.bandwidth, link_latency_s=hw.link.latency, link_j_per_byte=8 * hw.link.energy_per_bit)


def _problem(study, execution, objective, groups, gemms: list[Gemm], batch: int, workload: Workload | None,
             prefill: Problem | None) -> Problem:
    hw, dtype = study.hardware, study.model.dtype
    splits = tuple(sorted(set(hw.tensor_parallel) | {1}))
    tables = _tables(study, gemms, batch, splits)
    kinds, chain = _kinds(hw)
    _refuse_oversized(study, [g.name for g in groups], tables.stored_bytes, kinds, splits)
    cons = study.spec.constraints
    return Problem(
        name=study.name, model=study.model.name, hardware=hw.name, family=hw.family, dtype=dtype,
        execution=execution, objective=objective, batch=batch, max_accelerators=min(cons.max_accelerators or len(chain), len(chain)),
        latency_max_s=cons.latency_max_ms / 1e3 if cons.latency_max_ms else None, throughput_min=cons.throughput_min,
        layers=tuple(Layer(g.name, g.ops, gemm, costs.weight_bytes(gemm, dtype) / batch) for g, gemm in zip(groups, gemms)),
        configs=tuple(costs.menu(hw)), time_s=tables.time_s[0], energy_j=tables.energy_j[0],
        resources=("dsp", "lut", "ff"), usage=tables.fabric, capacity=tables.capacity[0, :3],
        ddr_period_s=0.0, static_power_w=float(kinds[0].static_power),
        peak_macs_per_unit_s=float(kinds[0].clock), tables=tables, workload=workload, prefill=prefill)


def tabulate(study, execution: ExecutionModel, objective: Objective, prune: bool = True) -> Problem:
    """Price every layer's block on every configuration of the menu, on every device kind and tensor-parallel split
    (``prune`` unused). With a workload: each KV cache at the workload's context, S sequences in flight as the batch,
    and the prompt phase as the problem's ``prefill``: the prompt's tokens streamed through the same blocks as a
    batch of ``prompt`` inputs (weights read once per prompt, attention over the prompt's own keys and values)."""
    groups = group_layers(study)
    w = study.workload
    if w is None:
        return _problem(study, execution, objective, groups, [g.gemm for g in groups], study.batch, None, None)
    gemms = [g.gemm.at_context(w.positions) for g in groups]
    kinds, chain = _kinds(study.hardware)
    dtype = study.model.dtype
    _refuse_cache_overflow(study, study.hardware, kinds, chain, float(sum(costs.weight_bytes(g, dtype) for g in gemms)),
                           float(sum(costs.cache_bytes(g, dtype) for g in gemms)))
    prefill = _problem(study, execution, objective, groups, [g.gemm.prompt_token(w.prompt) for g in groups], w.prompt,
                       None, None)
    workload = Workload(w.prompt, w.generate, w.positions, w.sequences)
    return _problem(study, execution, objective, groups, gemms, w.sequences, workload, prefill)
