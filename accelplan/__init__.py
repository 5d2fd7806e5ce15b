"""accelplan: exact and heuristic planning of DNN inference deployments on accelerators.

The names below are imported on first use, so ``import accelplan`` (and the command line's
``--help``) loads no solver backend.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "Result": "api", "make_study": "api", "plan_study": "api", "write_outputs": "api",
    "AccelplanError": "errors", "SolveError": "errors", "SpecError": "errors",
    "AcceleratorPlan": "plan", "Plan": "plan", "SolverFacts": "plan", "evaluate": "plan",
    "Problem": "problem", "build_problem": "problem",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    raise AttributeError(f"module 'accelplan' has no attribute {name!r}")
