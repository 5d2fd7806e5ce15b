"""Declarations that name code by ``"module:function"`` (strategies' solvers, plan forms' replays), resolved when used,
so declaring them imports nothing."""

from __future__ import annotations

import importlib
from collections.abc import Callable


def resolve(target: str) -> Callable:
    """The function ``"module:function"`` names (its module imported now)."""
    module, function = target.split(":")
    return getattr(importlib.import_module(module), function)
