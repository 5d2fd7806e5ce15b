"""Stream port names shared by the Vitis and SystemVerilog targets (one name per PLIO stream)."""

from __future__ import annotations

from ..plan import AcceleratorPlan


def port_names(acc: AcceleratorPlan) -> dict[str, list[str]]:
    """AI Engine graph port names of an accelerator: LHS and RHS input streams, output streams."""
    lhs = acc.ports_lhs or (acc.ports_in + 1) // 2
    return {"lhs": [f"acc{acc.index}_lhs{j}" for j in range(lhs)],
            "rhs": [f"acc{acc.index}_rhs{j}" for j in range(acc.ports_in - lhs)],
            "out": [f"acc{acc.index}_out{j}" for j in range(acc.ports_out)]}
