"""A study on a GPU (or a node of them) as a one-accelerator pipeline problem whose configurations are the
tensor-parallel degrees k (units = k GPUs).

Without a workload the layers are the model's as lowered, at the study's batch. With a workload (a served language
model) an input is one generated token: the batch is the S sequences in flight, decoded together one token each per
step, every attention reading each sequence's KV cache at the workload's context; and ``Problem.prefill`` is the
same layers applied to one prompt (its latency: the time to the first token). The weights and the S caches must fit
in the memory of the k GPUs: degrees that cannot hold them are left out of the menu, and a workload no degree holds
is refused with the figures and the most sequences that would fit.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ...errors import SpecError, SpecIssue
from .costs import OVERLAPPED, TERMS, collectives, degrees, layer_terms_s, served_bytes

if TYPE_CHECKING:
    from ...execution import ExecutionModel
    from ...objective import Objective
    from ...problem import Problem
    from ...specs.lowering import Gemm
    from ...specs.study import Study
    from .spec import GPUHardware


@dataclass(frozen=True)
class TensorParallel:
    """A configuration: ``units`` GPUs of the node, every layer split over them (1: one GPU, labelled ``gpu``)."""

    units: int = 1

    @property
    def label(self) -> str:
        return "gpu" if self.units == 1 else f"tp{self.units}"

    def plan_fields(self) -> dict[str, object]:
        return {"config": self.label, "units": self.units}


#: the one-GPU configuration (plans written before tensor parallelism name it ``gpu``)
WholeGPU = TensorParallel


def _gb(nbytes: float) -> str:
    return f"{nbytes / 1e9:,.2f} GB"


def refuse_memory(study: "Study", hw: "GPUHardware", weights: float, kv_sequence: float, sequences: int,
                  context: int) -> SpecError:
    """Why no degree of ``hw`` holds the workload, with the figures, the most sequences (at this context) and the
    longest context (at these sequences) that would fit."""
    capacity = hw.count * hw.memory_capacity
    spare = capacity - weights
    most = int(spare // kv_sequence) if spare > 0 and kv_sequence else 0
    longest = int(spare // (kv_sequence / context * sequences)) if spare > 0 and kv_sequence else 0
    gpus = f"{hw.count} GPUs of {_gb(hw.memory_capacity)} ({_gb(capacity)})" if hw.count > 1 else f"one GPU ({_gb(capacity)})"
    fits = (f"at most {most} sequence{'s' if most != 1 else ''} fit at context {context}"
            + (f", or context {longest} at {sequences} sequences" if longest else "")
            if most else "the weights alone exceed it")
    node = "" if hw.count > 1 else "; a node of GPUs splits the model (e.g. hardware dgx-a100: 8 x A100, tensor parallel)"
    return SpecError(study.file or hw.name, [SpecIssue(
        f"{study.model.name} does not fit on {hw.name}: weights {_gb(weights)} + KV cache {_gb(kv_sequence * sequences)} "
        f"({sequences} sequence{'s' if sequences != 1 else ''} x {context} positions x "
        f"{kv_sequence / context / 1e6:,.3f} MB) = {_gb(weights + kv_sequence * sequences)} exceed the memory of {gpus}; "
        f"{fits}"
        f"{node}", "workload.sequences")])


def _terms(hw: "GPUHardware", dtype: str, gemms: list["Gemm"], batch: int, menu: tuple[int, ...],
           reduce: tuple[int, ...]) -> np.ndarray:
    """(L, C, T): each layer's time terms (:data:`~.costs.TERMS`) on each degree."""
    return np.array([[layer_terms_s(hw, dtype, g, batch, k, c) for k in menu] for g, c in zip(gemms, reduce)],
                    dtype=float).reshape(len(gemms), len(menu), len(TERMS))


def tabulate(study: "Study", execution: "ExecutionModel", objective: "Objective", prefill_batch: int = 1) -> "Problem":
    """The study's problem (see the module docstring); ``prefill_batch`` prompts are prefilled together in its
    ``prefill`` problem (1: the time to the first token of one request; S: of a static batch of S requests, whose
    latency is the batch's prefill time, as ``benchmarks/llm.py`` reads it)."""
    from ...problem import Layer, Problem, Workload, group_layers

    hw, dtype, batch = study.hardware, study.model.dtype, study.batch
    groups = group_layers(study)
    kinds = {nop.name: nop.op.kind for nop in study.model.ops}
    reduce = collectives(kinds, groups)
    menu = degrees(hw)
    work = study.workload
    gemms = [g.gemm for g in groups] if work is None else [g.gemm.at_context(work.positions) for g in groups]
    resources, units, usage_rows = ("gpus",), ("",), [[k] for k in menu]
    workload = None
    if work is not None:
        weights, kv_sequence = served_bytes(gemms, dtype)
        need = weights + kv_sequence * batch
        menu = tuple(k for k in menu if need / k <= hw.memory_capacity * (1 + 1e-12))
        if not menu:
            raise refuse_memory(study, hw, weights, kv_sequence, batch, work.positions)
        resources, units = ("gpus", "memory per GPU"), ("", "B")
        usage_rows = [[k, need / k] for k in menu]
        workload = Workload(work.prompt, work.generate, work.positions, batch)
    capacity = np.array([hw.count] + ([hw.memory_capacity] if work is not None else []), dtype=float)
    configs = tuple(TensorParallel(k) for k in menu)
    power = np.array([k * hw.board_power for k in menu])

    def problem(layer_gemms: list["Gemm"], at_batch: int, latency_max_s: float | None = None,
                throughput_min: float | None = None, **extra) -> "Problem":
        from ...problem import LayerBounds, binding_terms
        terms = _terms(hw, dtype, layer_gemms, at_batch, menu, reduce)
        time_s = np.maximum(terms[..., 0], terms[..., 1]) + terms[..., 2] + terms[..., 3]  # as layer_time_s adds them
        extra.setdefault("bounds", LayerBounds(TERMS, terms, binding_terms(terms, OVERLAPPED)))
        return Problem(
            name=study.name, model=study.model.name, hardware=hw.name, family=hw.family, dtype=dtype,
            execution=execution, objective=objective, batch=at_batch, max_accelerators=1,
            latency_max_s=latency_max_s, throughput_min=throughput_min,
            layers=tuple(Layer(g.name, g.ops, gemm, 0.0) for g, gemm in zip(groups, layer_gemms)), configs=configs,
            time_s=time_s, energy_j=time_s * power, resources=resources, usage=np.array(usage_rows, dtype=float),
            capacity=capacity, ddr_period_s=0.0, static_power_w=0.0, peak_macs_per_unit_s=hw.macs_per_s[dtype],
            resource_units=units, **extra)

    prefill = problem([g.prefill(work.prompt) for g in gemms], prefill_batch) if work is not None else None
    c = study.spec.constraints
    return problem(gemms, batch, workload=workload, prefill=prefill, throughput_min=c.throughput_min,
                   latency_max_s=c.latency_max_ms / 1e3 if c.latency_max_ms else None)
