"""The accelerator (or cluster) table every report shows, worded for the plan's hardware family."""

from __future__ import annotations

from ..plan import AcceleratorPlan, Plan


def accelerator_table(plan: Plan) -> tuple[list[str], list[list[object]]]:
    """Header and rows: engines/ports/PL buffer on versal-aie; segment, chiplets and SRAM per chiplet on mcm."""
    if plan.family == "mcm":
        header = ["#", "segment", "chiplets (rows×cols)", "SRAM per chiplet KiB", "layers", "busy ms", "utilisation",
                  "MAC efficiency"]
        rows = [[a.index, a.segment, a.config, f"{a.buffer_bytes / 1024:.0f}", len(a.layers), f"{a.busy_ms:.4f}",
                 f"{a.utilization:.1%}", f"{a.mac_efficiency:.1%}"] for a in plan.accelerators]
        return header, rows
    header = ["#", "engines A×B×C @ tile", "units", "PLIO in/out", "PL buffer KiB", "layers", "busy ms", "utilisation",
              "MAC efficiency"]
    rows = [[a.index, a.config, a.units, f"{a.ports_in}/{a.ports_out}", f"{a.buffer_bytes / 1024:.0f}", len(a.layers),
             f"{a.busy_ms:.4f}", f"{a.utilization:.1%}", f"{a.mac_efficiency:.1%}"] for a in plan.accelerators]
    return header, rows


def operator_list(acc: AcceleratorPlan) -> list[str]:
    """The accelerator's operators; on mcm each layer with its partition (weight-shared x input-shared groups) and tile."""
    if not acc.partitions:
        return list(acc.ops)
    return [f"{name} (ws{gm}×is{gn}, tile {'x'.join(map(str, tile))})"
            for name, (gm, gn), tile in zip(acc.layers, acc.partitions, acc.layer_tiles)]


def unit_name(plan: Plan) -> str:
    return "chiplets" if plan.family == "mcm" else "units"
