"""Deployment configs for build flows, written from a :class:`~accelplan.plan.Plan` (what ``plan.yaml`` holds).

Each emitter is a function ``(plan, out_dir) -> list of written paths``; every file is written atomically.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from .. import families
from ..errors import SolveError
from ..plan import Plan
from .json_target import emit_json
from .rtl import emit_rtl
from .sv import emit_sv
from .vitis import emit_vitis

Emitter = Callable[[Plan, Path], list[Path]]

EMITTERS: dict[str, Emitter] = {"json": emit_json, "vitis": emit_vitis, "sv": emit_sv, "rtl": emit_rtl}


def emit(plan: Plan, target: str, out_dir: Path, plan_file: Path | None = None, weights: dict | None = None) -> list[Path]:
    """Write the ``target`` config of ``plan`` into ``out_dir`` (a target the plan's family declares); an emitter
    that reads the model graph (``reads_plan_file``) gets the plan's file, whose run block names the study; one that
    writes weight memories (``takes_weights``) gets ``weights`` (layer name -> array), which other targets refuse."""
    try:
        run = EMITTERS[target]
    except KeyError:
        raise SolveError(f"unknown emit target {target!r}; available: {', '.join(EMITTERS)}") from None
    family = families.get(plan.family)
    if target not in family.emit_targets:
        raise SolveError(f"target {target} does not write configs for {plan.hardware} (family {plan.family}); "
                         f"targets for it: {', '.join(family.emit_targets)}")
    if not plan.accelerators:
        raise SolveError("the plan has no accelerators (it records an infeasible or unfinished solve): nothing to emit")
    options: dict = {}
    if weights is not None:
        takes = [name for name, other in EMITTERS.items() if getattr(other, "takes_weights", False)]
        if not getattr(run, "takes_weights", False):
            raise SolveError(f"target {target} writes no weights; --weights applies to: {', '.join(takes)}")
        options["weights"] = weights
    if getattr(run, "reads_plan_file", False):
        options["plan_file"] = plan_file
    return run(plan, out_dir, **options)
