"""Deployment configs for build flows, written from a :class:`~accelplan.plan.Plan` (what ``plan.yaml`` holds).

Each emitter is a function ``(plan, out_dir) -> list of written paths``; every file is written atomically.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from ..errors import SolveError
from ..plan import Plan
from .json_target import emit_json
from .sv import emit_sv
from .vitis import emit_vitis

Emitter = Callable[[Plan, Path], list[Path]]

EMITTERS: dict[str, Emitter] = {"json": emit_json, "vitis": emit_vitis, "sv": emit_sv}
#: hardware families each target's build flow is for (json: any)
TARGET_FAMILIES: dict[str, tuple[str, ...]] = {"json": ("versal-aie", "mcm"), "vitis": ("versal-aie",), "sv": ("versal-aie",)}


def emit(plan: Plan, target: str, out_dir: Path) -> list[Path]:
    """Write the ``target`` config of ``plan`` into ``out_dir``."""
    try:
        run = EMITTERS[target]
    except KeyError:
        raise SolveError(f"unknown emit target {target!r}; available: {', '.join(EMITTERS)}") from None
    if plan.family not in TARGET_FAMILIES[target]:
        fits = [t for t, fams in TARGET_FAMILIES.items() if plan.family in fams]
        raise SolveError(f"target {target} writes configs for {', '.join(TARGET_FAMILIES[target])} devices; this plan is for "
                         f"{plan.hardware} (family {plan.family}); targets for it: {', '.join(fits)}")
    if not plan.accelerators:
        raise SolveError("the plan has no accelerators (it records an infeasible or unfinished solve): nothing to emit")
    return run(plan, out_dir)
