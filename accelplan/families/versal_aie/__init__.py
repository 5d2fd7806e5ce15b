"""AMD Versal AI Engine devices (``family: versal-aie``): engine arrays carved out of one device.

Sequential, spatial and hybrid execution (SSR, FPGA 2024) are pipeline-form plans: accelerators
of A x B x C engines with a per-engine tile, drawing on shared engines, PLIO ports and PL buffer.
Costs: :mod:`.costs`; tabulation: :mod:`.tabulate`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ...errors import SpecIssue
from ...execution import ExecutionModel, Form
from ...specs.loader import line_of
from .. import Family, ReportTable
from .spec import VersalAIEHardware

EXECUTIONS = (
    ExecutionModel("sequential", Form.PIPELINE, "one accelerator of the whole array runs every layer in turn",
                   single=True),
    ExecutionModel("spatial", Form.PIPELINE, "one accelerator per run of consecutive layers, pipelined"),
    ExecutionModel("replicated", Form.REPLICATED, "identical accelerators, each running every layer on its own inputs "
                   "(data parallel; weights stream once per batch, broadcast to the replicas)"),
    ExecutionModel("hybrid", Form.PIPELINE, "a few accelerators, each running any layers in turn, pipelined",
                   contiguous=False),
)


@dataclass(frozen=True)
class VersalAIE(Family):
    """The versal-aie family."""

    def check(self, hw: Any, lines: dict) -> list[SpecIssue]:
        """Tile dtypes need a MAC rate; the grid must hold the engines."""
        issues = []
        for dtype in {**hw.menu.engine_tiles, **hw.menu.engine_tile_dims}:
            if dtype not in hw.aie.macs_per_cycle:
                issues.append(SpecIssue(f"dtype {dtype!r} has engine tiles but no aie.macs_per_cycle entry "
                                        f"(have: {', '.join(hw.aie.macs_per_cycle)})", "menu.engine_tiles." + dtype,
                                        line_of(("menu", "engine_tiles", dtype), lines)))
        if hw.aie.grid[0] * hw.aie.grid[1] < hw.aie.units:
            issues.append(SpecIssue(f"grid {hw.aie.grid[0]}x{hw.aie.grid[1]} holds fewer than {hw.aie.units} units",
                                    "aie.grid", line_of(("aie", "grid"), lines)))
        return issues

    def dtypes(self, hw: Any) -> tuple[str, ...]:
        """Data types with engine tiles (a non-empty list), a MAC rate and a MAC energy."""
        tiled = {d for d, tiles in {**hw.menu.engine_tiles, **hw.menu.engine_tile_dims}.items() if tiles}
        return tuple(sorted(d for d in tiled if d in hw.aie.macs_per_cycle and d in hw.energy.mac))

    def tabulate(self, study, execution, objective, prune=True):
        from .tabulate import tabulate
        return tabulate(study, execution, objective, prune)

    def calibration(self):
        """What ``accelplan calibrate`` fits on this family and how it predicts a measured row (:mod:`.calibration`)."""
        from . import calibration
        return calibration

    def accelerator_table(self, plan) -> ReportTable:
        """Engines, ports and PL buffer per accelerator."""
        header = ("#", "engines A×B×C @ tile", "AI Engines", "PLIO in/out", "PL buffer KiB", "layers", "busy ms",
                  "utilisation", "MAC efficiency")
        rows = tuple((a.index, a.config, a.units, f"{a.ports_in}/{a.ports_out}", f"{a.buffer_bytes / 1024:.0f}",
                      len(a.layers), f"{a.busy_ms:.4f}", f"{a.utilization:.1%}", f"{a.mac_efficiency:.1%}")
                     for a in plan.accelerators)
        return ReportTable("Accelerators", header, rows)


FAMILY = VersalAIE(
    name="versal-aie", spec=VersalAIEHardware, executions=EXECUTIONS,
    baseline_execution="spatial", emit_targets=("json", "vitis", "sv"),
    model_note=("Per input: stage time = sum of its layers' times on its accelerator (each at least its own DDR "
                "time); period = max(slowest stage, all layers' DDR bytes per input / the DDR channel's total "
                "bandwidth); throughput = 1/period; latency = sum of stage times + "
                "(batch − 1) × period; energy = Σ layer energy + static power × period."),
    resource_words=(("units", "AI Engines"), ("ports_in", "PLIO input ports"), ("ports_out", "PLIO output ports"),
                    ("buffer_bytes", "PL buffer")),
    description="AMD Versal AI Engine devices (e.g. VC1902 on VCK190)")
