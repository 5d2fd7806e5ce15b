"""Prefix sums over layers: the price of a run of consecutive layers in O(1) (kept apart so that
:mod:`accelplan.execution` itself imports no numpy)."""

from __future__ import annotations

import numpy as np


def prefix_sums(table: np.ndarray) -> np.ndarray:
    """Sums over the first axis from the start: row ``i`` is the sum of rows ``0..i-1`` (row 0 is zero), so
    rows ``i..j-1`` sum to ``out[j] - out[i]`` (a run of consecutive layers, priced in O(1))."""
    table = np.asarray(table)
    return np.concatenate([np.zeros((1, *table.shape[1:]), dtype=table.dtype), np.cumsum(table, axis=0)])
