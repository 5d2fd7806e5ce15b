"""A GPU as a roofline reference (``family: gpu``): the comparison users of many-device systems make first.

One execution model, ``roofline``: the whole GPU runs the layers one after another, each for the
batch at once. Per input (the batch's time divided by the batch), a layer takes
``max(MACs / (peak MAC rate * compute efficiency), (weights / batch + activations) / (bandwidth *
memory efficiency)) + launch overhead / batch``; period = the sum over layers; throughput = 1 /
period; latency = batch x period; energy = board power x period. A pipeline-form problem with one
configuration (the GPU), so every pipeline strategy solves it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from pydantic import Field

from ...execution import ExecutionModel, Form
from ...specs.schema import DTYPE_BYTES, Dtype, Strict
from ...specs.units import Bandwidth, Power, Time
from .. import Family, ReportTable, Words


class GPUHardware(Strict):
    """A GPU described by its roofline: peak MAC rates per dtype, memory bandwidth, board power."""

    name: str = Field(min_length=1)
    family: Literal["gpu"]
    description: str = ""
    macs_per_s: dict[Dtype, float] = Field(description="peak multiply-accumulates per second, per dtype (dense)")
    compute_efficiency: float = Field(0.7, gt=0, le=1, description="fraction of peak a large GEMM sustains")
    memory_bandwidth: Bandwidth
    memory_efficiency: float = Field(0.8, gt=0, le=1, description="fraction of peak bandwidth a stream sustains")
    board_power: Power = Field(description="board power while running (charged for the whole time)")
    launch_overhead: Time = Field(description="per layer (kernel launch), per batch")


@dataclass(frozen=True)
class WholeGPU:
    """The one configuration: the whole GPU."""

    units: int = 1
    label: str = "gpu"

    def plan_fields(self) -> dict[str, object]:
        return {"config": self.label, "units": self.units}


def _layer_time_s(hw: GPUHardware, dtype: str, gemm, batch: int) -> float:
    nbytes = DTYPE_BYTES[dtype]
    weights = gemm.k * gemm.n * gemm.count * nbytes if gemm.weight else 0
    activations = (gemm.m * gemm.k + gemm.m * gemm.n) * gemm.count * nbytes + (0 if gemm.weight else gemm.k * gemm.n * gemm.count * nbytes)
    compute = gemm.macs / (hw.macs_per_s[dtype] * hw.compute_efficiency)
    memory = (weights / batch + activations) / (hw.memory_bandwidth * hw.memory_efficiency)
    return max(compute, memory) + hw.launch_overhead / batch


@dataclass(frozen=True)
class GPU(Family):
    """The gpu family."""

    def dtypes(self, hw: Any) -> tuple[str, ...]:
        return tuple(hw.macs_per_s)

    def tabulate(self, study, execution, objective, prune=True):
        from ...problem import Layer, Problem, group_layers
        hw, dtype, batch = study.hardware, study.model.dtype, study.batch
        groups = group_layers(study)
        time_s = np.array([[_layer_time_s(hw, dtype, g.gemm, batch)] for g in groups])
        return Problem(
            name=study.name, model=study.model.name, hardware=hw.name, family=hw.family, dtype=dtype,
            execution=execution, objective=objective, batch=batch, max_accelerators=1, latency_max_s=(
                study.spec.constraints.latency_max_ms / 1e3 if study.spec.constraints.latency_max_ms else None),
            throughput_min=study.spec.constraints.throughput_min,
            layers=tuple(Layer(g.name, g.ops, g.gemm, 0.0) for g in groups), configs=(WholeGPU(),), time_s=time_s,
            energy_j=np.zeros_like(time_s), resources=("gpus",), usage=np.ones((1, 1)), capacity=np.ones(1),
            ddr_period_s=0.0, static_power_w=hw.board_power, peak_macs_per_unit_s=hw.macs_per_s[dtype])

    def accelerator_table(self, plan) -> ReportTable:
        rows = tuple((a.index, a.config, len(a.layers), f"{a.busy_ms:.4f}", f"{a.mac_efficiency:.1%}")
                     for a in plan.accelerators)
        return ReportTable("GPU", ("#", "device", "layers", "busy ms", "MAC efficiency"), rows)


FAMILY = GPU(
    name="gpu", spec=GPUHardware, baseline_execution="roofline",
    executions=(ExecutionModel("roofline", Form.PIPELINE, "the whole GPU runs the layers in turn, each for the batch",
                               single=True),),
    words=Words("GPU", "GPUs", "GPUs"),
    model_note=("Per input: a layer takes max(MACs / sustained MAC rate, (weights / batch + activations) / sustained "
                "bandwidth) + launch overhead / batch; period = Σ layers; throughput = 1 / period; latency = batch × "
                "period; energy = board power × period (accelplan.families.gpu)."),
    description="a GPU as a roofline reference (e.g. NVIDIA A100)")
