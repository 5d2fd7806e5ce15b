"""Systems of devices joined by links (``family: multi-device``): large models streamed across FPGAs.

The layer chain is cut into consecutive runs, one per device of the chain; on its device every
layer is its own streaming block, running concurrently with the others, with its own parallelism
along M, K and N; weights live on chip when they fit, else stream from the device's DDR or HBM.
Costs: :mod:`.costs`; tabulation: :mod:`.tabulate`; pricing: :mod:`accelplan.execution.devices`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ...errors import SpecIssue
from ...execution import ExecutionModel, Form
from ...specs.loader import line_of
from .. import Family, HardwareCost, ReportTable, Words
from .spec import MultiDeviceHardware

EXECUTIONS = (
    ExecutionModel("device-pipeline", Form.DEVICES,
                   "consecutive layers per device, every layer its own streaming block, devices pipelined"),
)


@dataclass(frozen=True)
class MultiDevice(Family):
    """The multi-device family."""

    def check(self, hw: Any, lines: dict) -> list[SpecIssue]:
        """Every device's dtypes need a lane cost; the parallelism menu must hold powers of two."""
        issues = []
        for i, group in enumerate(hw.devices):
            missing = [d for d in group.device.energy.mac if d not in hw.lane]
            if missing:
                issues.append(SpecIssue(f"dtypes {', '.join(missing)} have a MAC energy but no lane cost "
                                        f"(lane has: {', '.join(hw.lane)})", f"devices[{i}].device.energy.mac",
                                        line_of(("devices", i, "device", "energy", "mac"), lines)))
        for i, p in enumerate(hw.parallelism.per_dimension):
            if p & (p - 1):
                issues.append(SpecIssue(f"parallelism {p} is not a power of two", f"parallelism.per_dimension[{i}]",
                                        line_of(("parallelism", "per_dimension", i), lines)))
        return issues

    def dtypes(self, hw: Any) -> tuple[str, ...]:
        """Data types every device has a MAC energy for and the datapath a lane cost for."""
        return tuple(d for d in hw.lane if all(d in g.device.energy.mac for g in hw.devices))

    def tabulate(self, study, execution, objective, prune=True):
        from .tabulate import tabulate
        return tabulate(study, execution, objective, prune)

    def hardware_cost(self, problem) -> HardwareCost:
        """The devices of the chain."""
        return HardwareCost(self.words.accelerators, float(len(problem.devices.chain)))

    def accelerator_table(self, plan) -> ReportTable:
        """Per device (or devices splitting a run): its kind, ways, layers, busy time, where its blocks' weights live
        and its KV cache (per device)."""
        header = ("#", "device", "ways", "DSP", "layers", "busy ms", "utilisation", "weights on chip / streamed",
                  "KV MB on / off chip")
        rows = tuple((a.index, a.config, a.ways, a.units, len(a.layers), f"{a.busy_ms:.4f}", f"{a.utilization:.1%}",
                      f"{sum(1 for w in a.placements if w == 'on-chip')}/{sum(1 for w in a.placements if w != 'on-chip')}",
                      f"{a.kv_onchip_bytes / 1e6:,.1f} / {a.kv_offchip_bytes / 1e6:,.1f}")
                     for a in plan.accelerators)
        return ReportTable("Devices", header, rows)


FAMILY = MultiDevice(
    name="multi-device", spec=MultiDeviceHardware, executions=EXECUTIONS,
    baseline_execution="device-pipeline", emit_targets=("json", "rtl"), words=Words("device", "devices", "DSP"),
    model_note=("A served language model (a study's workload): an input is a generated token; S sequences in flight "
                "are the batch; every attention layer's KV cache (S caches) is placed on chip or in DDR/HBM and each "
                "token reads its own; TPOT = max(one token's trip, with every streamed byte read, S x period); "
                "tokens/s = S / TPOT; TTFT = the prompt streamed through the same blocks; a run may be split k ways "
                "over adjacent devices, its outputs all-gathered on the links. "
                "Per input: a block's time = its cycles (with the ceilings of its parallelism) / clock; a device's "
                "time = max(slowest block, weights streamed from DDR/HBM / bandwidth); a link's time = activations "
                "crossing it / link bandwidth; period = the slowest device or link; latency = Σ block times + "
                "link hops + (batch − 1) × period; energy = MACs + weight and link traffic + static power of the "
                "devices in use × period (see accelplan.execution.devices)."),
    resource_words=(("DSP", "DSP slices"), ("LUT", "LUTs"), ("FF", "flip-flops"), ("on-chip bytes", "on-chip memory")),
    description="chains of FPGAs (e.g. Alveo U250, U55C) joined by QSFP28 or PCIe links",
    reference="a100")
