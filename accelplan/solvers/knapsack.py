"""Bounded knapsack: the pricing step of column generation (:mod:`accelplan.solvers.colgen`).

maximise sum_k value[k] * n[k]  subject to  sum_k weight[k] * n[k] <= capacity,  0 <= n[k] <= count[k] integer.

Depth-first branch and bound over item types in decreasing value density, each type's count tried
from the most that fits down to zero; a node is cut when its fractional (Dantzig) bound cannot
exceed ``max(best found, threshold + slack)``. Column generation only needs a packing worth more
than ``threshold`` or a proof that none is worth much more, so the search also stops after
``node_limit`` nodes or at a ``deadline`` (``time.perf_counter()``, looked at every ``CLOCK_EVERY`` nodes);
either way the answer carries ``upper``, a value no packing exceeds: the best found, ``threshold + slack``,
or the bound of a node left open. With ``slack = 0`` and no node
limit the search is exact. Item types with a non-positive value are never packed; weights are positive.
"""

from __future__ import annotations

import bisect
import math
import time
from dataclasses import dataclass

import numpy as np

CLOCK_EVERY = 4096  # nodes between two looks at the deadline


@dataclass(frozen=True)
class Packing:
    """What the search found: the best packing above the threshold (None: none found) and ``upper``, a value
    no packing exceeds."""

    value: float
    counts: tuple[int, ...] | None
    upper: float


def fractional_bounds(value: np.ndarray, weight: np.ndarray, count: np.ndarray, capacity: float) -> np.ndarray:
    """The LP bound of the knapsack for every column of ``value``/``weight`` (shape (K, C)) at once.

    Items with non-positive value or a weight above ``capacity`` are left out; the result (C,) is an
    upper bound on each column's integer optimum.
    """
    usable = (value > 0) & (weight <= capacity)
    v = np.where(usable, value, 0.0) * count[:, None]
    w = np.where(usable, weight, 0.0) * count[:, None]
    density = np.where(usable, value / np.where(usable, weight, 1.0), -np.inf)
    order = np.argsort(-density, axis=0)
    w_sorted = np.take_along_axis(w, order, axis=0)
    d_sorted = np.take_along_axis(np.where(usable, density, 0.0), order, axis=0)
    before = np.cumsum(w_sorted, axis=0) - w_sorted
    taken = np.clip(capacity - before, 0.0, w_sorted)  # weight taken of each (sorted) item type
    return (taken * d_sorted).sum(axis=0)


class _Search:
    """One branch and bound (module docstring); items are the usable types in decreasing density."""

    def __init__(self, v: list[float], w: list[float], q: list[int], floor: float):
        self.v, self.w, self.q = v, w, q
        self.best_value, self.best = floor, None
        self.nodes = 0
        self.cum_w, self.cum_v = [0.0], [0.0]  # all of items 0..j-1: weight and value
        for j in range(len(v)):
            self.cum_w.append(self.cum_w[-1] + q[j] * w[j])
            self.cum_v.append(self.cum_v[-1] + q[j] * v[j])
        self.density = [v[j] / w[j] for j in range(len(v))]

    def bound(self, i: int, room: float) -> float:
        """The fractional bound of items i.. within ``room``: all of items i..j-1 (found by bisection on the
        running weights), then a fraction of item j."""
        j = bisect.bisect_right(self.cum_w, self.cum_w[i] + room, i + 1) - 1
        total = self.cum_v[j] - self.cum_v[i]
        if j < len(self.v):
            total += (room - (self.cum_w[j] - self.cum_w[i])) * self.density[j]
        return total

    def run(self, capacity: float, node_limit: int | None, deadline: float | None = None) -> float:
        """Search until done, ``node_limit`` nodes or ``deadline``; returns the highest bound of a node left open
        (``-inf`` when the search completed)."""
        n = len(self.v)
        stack = [(0, capacity, 0.0, ())]
        while stack:
            i, room, val, taken = stack.pop()
            if val > self.best_value:
                self.best_value, self.best = val, taken
            if i == n:
                continue
            bound = val + self.bound(i, room)
            if bound <= self.best_value * (1 + 1e-12):
                continue
            if ((node_limit is not None and self.nodes >= node_limit) or (
                    deadline is not None and self.nodes % CLOCK_EVERY == 0 and time.perf_counter() > deadline)):
                stack.append((i, room, val, taken))
                return max(s[2] + self.bound(s[0], s[1]) for s in stack)
            self.nodes += 1
            most = min(self.q[i], math.floor(room / self.w[i] + 1e-12))
            for take in range(0, most + 1):  # the largest count is popped first
                stack.append((i + 1, room - take * self.w[i], val + take * self.v[i], taken + (take,)))
        return -math.inf


def best_packing(value: np.ndarray, weight: np.ndarray, count: np.ndarray, capacity: float,
                 threshold: float = 0.0, slack: float = 0.0, node_limit: int | None = None,
                 deadline: float | None = None) -> Packing:
    """The most valuable packing worth more than ``threshold`` it finds (before ``node_limit`` nodes or the
    ``deadline``, when given), and a value no packing exceeds."""
    keep = [k for k in range(len(value)) if value[k] > 0 and weight[k] <= capacity and count[k] > 0]
    keep.sort(key=lambda k: -value[k] / weight[k])
    search = _Search([float(value[k]) for k in keep], [float(weight[k]) for k in keep],
                     [int(count[k]) for k in keep], threshold + slack)
    open_bound = search.run(capacity * (1 + 1e-12), node_limit, deadline)
    upper = max(search.best_value, open_bound)
    if search.best is None:
        return Packing(threshold, None, upper)
    counts = [0] * len(value)
    for j, take in enumerate(search.best):  # item types after the last branched one are not packed
        counts[keep[j]] = take
    found = float(sum(counts[k] * value[k] for k in keep))
    return Packing(found, tuple(counts), upper)
