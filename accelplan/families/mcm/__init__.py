"""Chiplet packages (``family: mcm``): clusters of chiplets on a mesh network-on-package.

Layer-sequential, segmented-pipeline and merged-pipeline execution (Scope, 2026) are segment-form
plans: the layer chain is cut into temporal segments, each a pipeline of clusters of consecutive
layers on disjoint chiplet groups. Costs: :mod:`.costs`; tabulation: :mod:`.tabulate`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ...errors import SpecIssue
from ...execution import ExecutionModel, Form
from ...execution.segments import ClusterPlan
from ...specs.loader import line_of
from .. import Family, ReportTable, Words
from .spec import MCMHardware

EXECUTIONS = (
    ExecutionModel("layer-sequential", Form.SEGMENTS, "every layer on the whole package, one after another",
                   single=True),
    ExecutionModel("segmented-pipeline", Form.SEGMENTS, "one layer per cluster, clusters pipelined, segments in turn",
                   one_layer=True),
    ExecutionModel("replicated", Form.REPLICATED, "identical clusters, each running every layer on its own inputs "
                   "(data parallel; each reads its weights at its share of the DRAM bandwidth)"),
    ExecutionModel("merged-pipeline", Form.SEGMENTS, "consecutive layers merged into clusters, pipelined, segments in turn"),
)


def _tile_issues(hw: MCMHardware, lines: dict) -> list[SpecIssue]:
    issues = []
    for dtype, tiles in hw.chiplet.tiles.items():
        rate = hw.chiplet.macs_per_cycle.get(dtype)
        p = ("chiplet", "tiles", dtype)
        if rate is None:
            issues.append(SpecIssue(f"dtype {dtype!r} has tiles but no chiplet.macs_per_cycle entry "
                                    f"(have: {', '.join(hw.chiplet.macs_per_cycle)})", "chiplet.tiles." + dtype, line_of(p, lines)))
        for i, (m, k, n) in enumerate(tiles):
            if rate is not None and m * k * n != rate:
                issues.append(SpecIssue(f"tile {m}x{k}x{n} = {m * k * n} MACs per cycle, but macs_per_cycle.{dtype} is {rate}",
                                        f"chiplet.tiles.{dtype}[{i}]", line_of(p + (i,), lines)))
    return issues


def _mesh_issues(hw: MCMHardware, lines: dict) -> list[SpecIssue]:
    issues = []
    rows, cols = hw.mesh
    for i, ctl in enumerate(hw.dram.controllers):
        if ctl.at[0] >= rows or ctl.at[1] >= cols:
            issues.append(SpecIssue(f"controller at {list(ctl.at)} lies outside the {rows}x{cols} mesh "
                                    f"(rows 0..{rows - 1}, columns 0..{cols - 1})", f"dram.controllers[{i}].at",
                                    line_of(("dram", "controllers", i, "at"), lines)))
    for i, g in enumerate(hw.menu.cluster_chiplets or []):
        if g > rows * cols:
            issues.append(SpecIssue(f"a cluster of {g} chiplets exceeds the {rows * cols} on the package",
                                    f"menu.cluster_chiplets[{i}]", line_of(("menu", "cluster_chiplets", i), lines)))
    return issues


def _buffer_issues(hw: MCMHardware, lines: dict) -> list[SpecIssue]:
    """The weight buffer is part of the chiplet's SRAM."""
    wb = hw.chiplet.weight_buffer
    if wb is not None and wb > hw.chiplet.sram:
        return [SpecIssue(f"weight_buffer ({wb:.0f} B) is part of sram and cannot exceed it ({hw.chiplet.sram:.0f} B)",
                          "chiplet.weight_buffer", line_of(("chiplet", "weight_buffer"), lines))]
    return []


@dataclass(frozen=True)
class ChipletPackage(Family):
    """The mcm family."""

    def check(self, hw: Any, lines: dict) -> list[SpecIssue]:
        """Tiles must match the MAC rate; controllers and clusters must fit the mesh; the weight buffer fit the SRAM."""
        return _tile_issues(hw, lines) + _mesh_issues(hw, lines) + _buffer_issues(hw, lines)

    def dtypes(self, hw: Any) -> tuple[str, ...]:
        """Data types with chiplet tiles (a non-empty list), a MAC rate and a MAC energy."""
        return tuple(d for d, tiles in hw.chiplet.tiles.items()
                     if tiles and d in hw.chiplet.macs_per_cycle and d in hw.energy.mac)

    def tabulate(self, study, execution, objective, prune=True):
        from .tabulate import TABLES
        return TABLES[execution.form](study, execution, objective, prune)

    def accelerator_table(self, plan) -> ReportTable:
        """Segment, chiplets and SRAM per chiplet per cluster (replicas: the common table)."""
        if not all(isinstance(a, ClusterPlan) for a in plan.accelerators):
            return super().accelerator_table(plan)
        header = ("#", "segment", "chiplets (rows×cols)", "SRAM per chiplet KiB", "layers", "busy ms", "utilisation",
                  "MAC efficiency", "array filled (per layer)")
        rows = tuple((a.index, a.segment, a.config, f"{a.buffer_bytes / 1024:.0f}", len(a.layers), f"{a.busy_ms:.4f}",
                      f"{a.utilization:.1%}", f"{a.mac_efficiency:.1%}",
                      " ".join(f"{u:.0%}" for u in a.layer_array_use) or "—") for a in plan.accelerators)
        return ReportTable("Clusters", header, rows)


FAMILY = ChipletPackage(
    name="mcm", spec=MCMHardware, executions=EXECUTIONS, baseline_execution="segmented-pipeline",
    emit_targets=("json",), words=Words("cluster", "clusters", "chiplets"),
    model_note=("Per segment: Σ cluster times + (batch − 1) × slowest cluster + weights loaded from DRAM + "
                "reconfiguration + activations crossing DRAM at its start; batch latency = Σ segments (+ the output "
                "written); throughput = batch / latency; energy = Σ layer energy + DRAM traffic + static power × "
                "latency, per inference (see accelplan.execution.segments). A cluster whose weights do not fit its "
                "chiplets' SRAM streams them from DRAM for every input, at its chiplets' share of the DRAM bandwidth, "
                "double-buffered: each layer takes the slower of its compute and its streaming plus one tile's fetch; "
                "a layer whose share alone does not fit runs blocked from DRAM (weight- or input-stationary, the "
                "least traffic). Tensors cross links and DRAM at their real size (a convolution's feature map and "
                "halo, not its im2col expansion)."),
    description="packages of chiplets on a mesh network-on-package (e.g. Simba)")
