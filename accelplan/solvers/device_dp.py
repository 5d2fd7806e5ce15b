"""Exact throughput on a chain of devices (devices form): a target search on the period with a DP over cut points.

For a target period ``T`` a plan exists iff the layer chain can be cut into runs, one per device
of the chain in order, such that on each device (kind ``k``):

1. every block meets ``T``: each layer takes the fewest lanes whose time is within ``T`` (fabric
   grows with lanes, so that choice is the cheapest on every resource at once);
2. the blocks' DSP, LUT and FF fit the device (within the utilisation cap);
3. some set ``S`` of its layers keeps weights on chip with ``W(S) <= on-chip bytes`` while the rest
   stream within ``T`` and fit the off-chip memory: ``W(run) - W(S) <= min(T * batch * bandwidth_k,
   capacity_k)``, i.e. the largest subset sum of weights that fits on chip reaches ``W(run)`` minus
   that room (an exact subset-sum over the run's weights);
and every cut's activations cross their link within ``T``. Each condition only gets harder when
a run grows, so from each cut point the feasible ends form an interval and the cut points
reachable by ``d`` devices are found by interval unions in order of the chain.

Feasibility is monotone in ``T``: bisection between a lower bound (the slowest layer at its
fastest) and a feasible period narrows to a relative width of 1e-9; the plan found at the upper
end is priced by the evaluator and the lower end, proven infeasible, is the bound. Throughput
objective only, without a latency bound (``throughput_min`` is honoured); the registry says so.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from ..execution.devices import block_options
from ..execution.prefix import prefix_sums
from ..plan import Outcome
from ..problem import Problem

_REL = 1e-9


@dataclass(frozen=True)
class LayerMenu:
    """A layer's useful parallelism: on-chip configurations on the (cycles, lanes) front, fastest first,
    and for each its streamed twin (the same parallelism with weights off chip)."""

    cycles: np.ndarray  # ascending
    lanes: np.ndarray  # descending
    onchip: np.ndarray  # configuration indices
    streamed: np.ndarray


def layer_menus(problem: Problem) -> list[LayerMenu]:
    """Per layer the on-chip block options (:func:`accelplan.execution.devices.block_options`: the front of
    cycles and lanes), fastest first, each with its streamed twin (time is cycles / clock on every kind)."""
    t = problem.devices
    twin = {(c.pm, c.pk, c.pn): i for i, c in enumerate(problem.configs) if not c.onchip}
    clock = float(t.clock_hz[0])
    menus = []
    for l in range(problem.n_layers):
        front = sorted((c for c in block_options(problem, l) if t.onchip[c]), key=lambda c: t.time_s[0, l, c])
        menus.append(LayerMenu(np.rint(t.time_s[0, l, front] * clock), np.array([problem.configs[c].lanes for c in front]),
                               np.array(front), np.array([twin[(problem.configs[c].pm, problem.configs[c].pk,
                                                                problem.configs[c].pn)] for c in front])))
    return menus


def _subset_sums(weights: list[float], cap: float) -> dict[float, tuple[float, int] | None]:
    """Every sum of a subset of ``weights`` up to ``cap``, each with how it was reached (previous sum, item)."""
    reached: dict[float, tuple[float, int] | None] = {0.0: None}
    for item, w in enumerate(weights):
        if w <= 0:
            continue
        for s in [s for s in reached if s + w <= cap]:
            reached.setdefault(s + w, (s, item))
    return reached


@dataclass(frozen=True)
class KindLayout:
    """Under one period on one device kind: each layer's block choice and prefix sums of fabric and weights."""

    position: np.ndarray  # (L,) menu position of the fewest lanes meeting the period, -1: none
    fabric_prefix: np.ndarray  # (L+1, 3)
    weight_prefix: np.ndarray  # (L+1,)
    missing: np.ndarray  # sorted layers no block of which meets the period
    stream_room: float  # bytes per batch the device can stream within the period and hold off chip

    @classmethod
    def of(cls, target: "Target", kind: int) -> "KindLayout":
        t, p = target.problem.devices, target.problem
        limit = target.period * float(t.clock_hz[kind]) * (1 + _REL)
        position = np.array([int(np.searchsorted(m.cycles, limit, side="right")) - 1 for m in target.menus])
        fabric = np.array([t.fabric[m.onchip[i]] if i >= 0 else np.zeros(3) for m, i in zip(target.menus, position)])
        return cls(position, prefix_sums(fabric), prefix_sums(np.asarray(t.weight_bytes, dtype=float)),
                   np.flatnonzero(position < 0),
                   min(target.period * p.batch * float(t.memory_bandwidth[kind]) * (1 + _REL), float(t.memory_capacity[kind])))

    def first_missing(self, start: int) -> int:
        i = int(np.searchsorted(self.missing, start))
        return int(self.missing[i]) if i < len(self.missing) else len(self.position)

    def fabric_end(self, start: int, cap: np.ndarray) -> int:
        """The last end whose blocks' DSP, LUT and FF from ``start`` fit ``cap``."""
        ends = [int(np.searchsorted(self.fabric_prefix[:, r], self.fabric_prefix[start, r] + cap[r], side="right")) - 1
                for r in range(3)]
        return min(ends)


@dataclass
class Target:
    """Feasibility of runs of layers under one target period."""

    problem: Problem
    menus: list[LayerMenu]
    period: float
    reach: dict[tuple[int, int], int] = field(default_factory=dict)  # (kind, start) -> furthest end, computed once
    layouts: dict[int, KindLayout] = field(default_factory=dict)

    def choice(self, kind: int, layer: int) -> int | None:
        """Position in the layer's menu of the fewest lanes meeting the period on ``kind`` (None: none does)."""
        pos = int(self._layout(kind).position[layer])
        return pos if pos >= 0 else None

    def _layout(self, kind: int) -> KindLayout:
        if kind not in self.layouts:
            self.layouts[kind] = KindLayout.of(self, kind)
        return self.layouts[kind]

    def furthest(self, kind: int, start: int) -> int:
        """The last cut point ``j`` such that layers ``start..j-1`` fit one device of ``kind`` (``start``: none)."""
        if (kind, start) not in self.reach:
            self.reach[kind, start] = self._furthest(kind, start)
        return self.reach[kind, start]

    def _furthest(self, kind: int, start: int) -> int:
        """Blocks and fabric by prefix sums; weights: all streamable up to ``easy``, beyond it an exact subset sum."""
        lay, t = self._layout(kind), self.problem.devices
        cap = t.capacity[kind]
        end = min(lay.first_missing(start), lay.fabric_end(start, cap[:3] * (1 + _REL)))
        w = t.weight_bytes
        room = lay.stream_room
        easy = int(np.searchsorted(lay.weight_prefix, lay.weight_prefix[start] + room, side="right")) - 1
        if end <= easy:
            return end
        sums = {0.0}
        for l in range(start, easy):
            if w[l] > 0:
                sums |= {x + float(w[l]) for x in sums if x + w[l] <= cap[3]}
        for l in range(max(easy, start), end):
            if w[l] > 0:
                sums |= {x + float(w[l]) for x in sums if x + w[l] <= cap[3]}
            if max(sums) < lay.weight_prefix[l + 1] - lay.weight_prefix[start] - room:
                return l
        return end


    def link_ok(self, cut: int) -> bool:
        t = self.problem.devices
        return cut == self.problem.n_layers or t.boundary_bytes[cut] / t.link_bandwidth <= self.period * (1 + _REL)

    def cover(self) -> list[tuple[int, int, int]] | None:
        """Runs (device position, start, end) covering the chain under the period with the fewest devices, or None."""
        p, chain = self.problem, self.problem.devices.chain
        n, devices = p.n_layers, p.accelerator_slots
        parents: list[dict[int, int]] = []  # per device count: cut point reached -> the cut point it came from
        frontier = [0]
        for d in range(devices):
            reached: dict[int, int] = {}
            for i in frontier:
                for j in range(i + 1, self.furthest(chain[d], i) + 1):
                    if j not in reached and self.link_ok(j):
                        reached[j] = i
            parents.append(reached)
            if n in reached:
                return _runs(parents, n)
            frontier = sorted(reached)
            if not frontier:
                return None
        return None

    def groups(self, runs: list[tuple[int, int, int]]) -> tuple:
        """The plan of ``runs``: fewest lanes per block, weights on chip for the largest subset that fits."""
        t = self.problem.devices
        out = []
        for d, i, j in runs:
            kind = t.chain[d]
            weights = [float(t.weight_bytes[l]) for l in range(i, j)]
            on = _best_subset(weights, float(t.capacity[kind, 3]))
            configs = []
            for offset, l in enumerate(range(i, j)):
                pos = self.choice(kind, l)
                menu = self.menus[l]
                configs.append(int(menu.onchip[pos] if offset in on or weights[offset] == 0 else menu.streamed[pos]))
            out.append((d, tuple(range(i, j)), tuple(configs)))
        return tuple(out)


def _runs(parents: list[dict[int, int]], end: int) -> list[tuple[int, int, int]]:
    """Walk the parents back from the last cut point: (device position, start, end) per device."""
    runs = []
    for d in range(len(parents) - 1, -1, -1):
        start = parents[d][end]
        runs.append((d, start, end))
        end = start
    return runs[::-1]


def _best_subset(weights: list[float], cap: float) -> set[int]:
    """Indices of the subset of ``weights`` with the largest sum within ``cap``."""
    reached = _subset_sums(weights, cap)
    s, chosen = max(reached), set()
    while reached[s] is not None:
        s, item = reached[s]
        chosen.add(item)
    return chosen


def solve_devices(problem: Problem, time_limit_s: float, seed: int, options: dict) -> Outcome:
    """Largest throughput on the chain of devices (``seed`` unused); see the module docstring."""
    deadline = time.perf_counter() + time_limit_s
    menus = layer_menus(problem)
    clocks = problem.devices.clock_hz
    lo = max(float(m.cycles[0]) / float(clocks.max()) for m in menus)
    hi = max(lo, 1e-9)
    cap = 1.0 / problem.throughput_min if problem.throughput_min else None
    found = None
    while found is None:  # grow the upper end until a plan exists (or past any sensible period)
        target = Target(problem, menus, hi)
        runs = target.cover()
        if runs is not None:
            found = (hi, target.groups(runs))
        elif hi > 1e6 or (cap is not None and hi > cap) or time.perf_counter() > deadline:
            return Outcome(None, "infeasible" if time.perf_counter() <= deadline else "time_limit",
                           note="no cut of the chain fits the devices" if hi > 1e6 else "")
        else:
            lo, hi = hi, hi * 2
    while hi - lo > _REL * hi and time.perf_counter() < deadline:
        mid = (lo + hi) / 2
        target = Target(problem, menus, mid)
        runs = target.cover()
        if runs is None:
            lo = mid
        else:
            hi, found = mid, (mid, target.groups(runs))
    finished = hi - lo <= _REL * hi
    if cap is not None and hi > cap * (1 + _REL):
        return Outcome(None, "infeasible" if finished else "time_limit", 1.0 / lo if lo > 0 else None)
    return Outcome(found[1], "optimal" if finished else "time_limit", 1.0 / lo if lo > 0 else None,
                   note="target search on the period, DP over cut points with subset-sum weight placement")
