"""A toy hardware family for tests: N identical units, a layer on ``u`` of them takes
``overhead + ceil(MACs / u / per_unit) / clock`` seconds. It joins accelplan through this module
alone and one call to :func:`accelplan.families.register`."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
from pydantic import Field, PositiveInt

from accelplan.execution import ExecutionModel, Form
from accelplan.families import Family
from accelplan.problem import Layer, Problem, group_layers
from accelplan.specs.schema import Strict


class ToyHardware(Strict):
    """N identical units."""

    name: str
    family: Literal["toy-units"]
    units: PositiveInt = Field(description="identical compute units")
    macs_per_cycle: PositiveInt = Field(description="MACs per cycle of one unit")
    clock_hz: PositiveInt
    overhead_cycles: int = Field(0, ge=0, description="cycles per layer launch")
    unit_power_w: float = Field(1.0, ge=0, description="power of one busy unit")
    static_power_w: float = Field(0.0, ge=0)


@dataclass(frozen=True)
class UnitGroup:
    """An accelerator of ``units`` units."""

    units: int

    @property
    def label(self) -> str:
        return f"{self.units}u"

    def plan_fields(self) -> dict[str, object]:
        return {"config": self.label, "units": self.units}


def _time_s(hw: ToyHardware, macs: int, units: int) -> float:
    return (hw.overhead_cycles + math.ceil(macs / (units * hw.macs_per_cycle))) / hw.clock_hz


@dataclass(frozen=True)
class ToyFamily(Family):
    def dtypes(self, hw) -> tuple[str, ...]:
        return ("int8", "int16", "bf16", "fp32")

    def tabulate(self, study, execution, objective, prune=True) -> Problem:
        hw = study.hardware
        configs = tuple(UnitGroup(u) for u in range(1, hw.units + 1))
        groups = group_layers(study)
        time_s = np.array([[_time_s(hw, g.gemm.macs, c.units) for c in configs] for g in groups])
        energy_j = time_s * np.array([c.units * hw.unit_power_w for c in configs])[None, :]
        cons = study.spec.constraints
        return Problem(
            name=study.name, model=study.model.name, hardware=hw.name, family=hw.family, dtype=study.model.dtype,
            execution=execution, objective=objective, batch=study.batch, max_accelerators=cons.max_accelerators or 3,
            latency_max_s=cons.latency_max_ms / 1e3 if cons.latency_max_ms else None, throughput_min=cons.throughput_min,
            layers=tuple(Layer(g.name, g.ops, g.gemm, 0.0) for g in groups), configs=configs, time_s=time_s,
            energy_j=energy_j, resources=("units",), usage=np.array([[c.units] for c in configs], dtype=float),
            capacity=np.array([float(hw.units)]), ddr_period_s=0.0, static_power_w=hw.static_power_w,
            peak_macs_per_unit_s=float(hw.macs_per_cycle * hw.clock_hz))


FAMILY = ToyFamily(
    name="toy-units", spec=ToyHardware, default_strategy="dp", baseline_execution="chain",
    executions=(ExecutionModel("one", Form.PIPELINE, "all units run every layer", single=True),
                ExecutionModel("chain", Form.PIPELINE, "consecutive layers per accelerator"),
                ExecutionModel("free", Form.PIPELINE, "any layers per accelerator", contiguous=False)),
    model_note="period = slowest accelerator; latency = fill + (batch - 1) x period.")
