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


def pareto_min_counted(x: np.ndarray, y: np.ndarray, count: np.ndarray, nested: bool = True) -> np.ndarray:
    """:func:`pareto_min` of the rows ``(x, y, count)`` where ``count`` takes few integer values (e.g. chiplets used).

    Sweeps the counts upwards keeping the staircase (x ascending, y descending) of every row with a
    smaller or equal count; a row is dropped when a staircase point, or an earlier row of its own
    count in (x, y) order, is <= it in x and y. O(n log n) per count value instead of O(n^2).
    ``nested=False``: rows of different counts never beat each other (the count is a state, not a cost).
    """
    keep_all = []
    stair_x, stair_y = np.empty(0), np.empty(0)
    for k in np.unique(count):
        idx = np.nonzero(count == k)[0]
        order = idx[np.lexsort((y[idx], x[idx]))]
        gx, gy = x[order], y[order]
        before = np.minimum.accumulate(np.concatenate([[np.inf], gy[:-1]]))  # least y of the earlier rows of this count
        beaten = before <= gy
        if not nested:
            stair_x, stair_y = np.empty(0), np.empty(0)
        if len(stair_x):
            at = np.searchsorted(stair_x, gx, side="right") - 1
            beaten |= (at >= 0) & (stair_y[np.maximum(at, 0)] <= gy)
        kept = order[~beaten]
        keep_all.append(kept)
        mx = np.concatenate([stair_x, x[kept]])
        my = np.concatenate([stair_y, y[kept]])
        o = np.lexsort((my, mx))
        mx, my = mx[o], my[o]
        low = np.minimum.accumulate(my)
        stair_x, stair_y = mx, low  # prefix minimum of y: the least y at or below each x
    return np.concatenate(keep_all) if keep_all else np.arange(0)
