"""Pareto filtering shared by the cost tables (pruning dominated configurations) and the dp strategy (labels)."""

from __future__ import annotations

import time

import numpy as np


class Timeout(Exception):
    """Raised by :func:`pareto_min` when its deadline passes."""


def pareto_min(points: np.ndarray, block: int = 256, deadline: float | None = None) -> np.ndarray:
    """Indices of the rows of ``points`` that no other row beats or ties on every column (first of equals kept).

    Rows are sorted lexicographically, so a row can only be beaten by an earlier one; blocks of rows
    are checked against the front kept so far and against the earlier rows of their own block.
    """
    if len(points) <= 1:
        return np.arange(len(points))
    order = np.lexsort(points.T[::-1])
    pts = points[order]
    front = pts[:0]
    keep = []
    for s in range(0, len(pts), block):
        if deadline is not None and time.perf_counter() > deadline:
            raise Timeout
        chunk = pts[s:s + block]
        beaten = np.tril((chunk[None, :, :] <= chunk[:, None, :]).all(axis=2), k=-1).any(axis=1)
        if len(front):
            beaten |= (front[None, :, :] <= chunk[:, None, :]).all(axis=2).any(axis=1)
        front = np.concatenate([front, chunk[~beaten]])
        keep.append(order[s:s + block][~beaten])
    return np.concatenate(keep)
