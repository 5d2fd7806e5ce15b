"""Strategies: each takes a :class:`~accelplan.problem.Problem` and returns a :class:`~accelplan.plan.Plan`.

They are declared in :mod:`accelplan.solvers.registry` (what each covers, its options, where its
solver lives); solvers return an :class:`~accelplan.plan.Outcome` that
:func:`accelplan.plan.finish` prices with the family's evaluator. Importing this package loads
no solver backend.
"""

from __future__ import annotations

from .registry import STRATEGIES, STRATEGY_NAMES, Strategy, auto, exact_names, solve, strategy

__all__ = ["STRATEGIES", "STRATEGY_NAMES", "Strategy", "auto", "exact_names", "solve", "strategy"]
