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

from ..execution.devices import block_options, metrics
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


def layer_menus(problem: Problem, split: int = 0) -> list[LayerMenu]:
    """Per layer (its share under split ``split``) the on-chip block options
    (:func:`accelplan.execution.devices.block_options`: the front of cycles and lanes), fastest first, each with its
    streamed twin (time is cycles / clock on every kind)."""
    t = problem.devices
    twin = {(c.pm, c.pk, c.pn): i for i, c in enumerate(problem.configs) if not c.onchip}
    clock = float(t.clock_hz[0])
    time_s = t.block_s[split, 0]
    menus = []
    for l in range(problem.n_layers):
        front = sorted((c for c in block_options(problem, l, split) if t.onchip[c]), key=lambda c: time_s[l, c])
        menus.append(LayerMenu(np.rint(time_s[l, front] * clock), np.array([problem.configs[c].lanes for c in front]),
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
    """Under one period on one device kind and split: each layer's block choice and prefix sums of fabric, stored
    bytes and all-gathered bytes."""

    position: np.ndarray  # (L,) menu position of the fewest lanes meeting the period, -1: none
    fabric_prefix: np.ndarray  # (L+1, 3)
    weight_prefix: np.ndarray  # (L+1,) bytes one device stores (weights, KV caches)
    gather_prefix: np.ndarray  # (L+1,) bytes one device sends to all-gather, per input
    missing: np.ndarray  # sorted layers no block of which meets the period
    stream_room: float  # bytes per batch the device can stream within the period and hold off chip

    @classmethod
    def of(cls, target: "Target", kind: int, split: int) -> "KindLayout":
        t, p = target.problem.devices, target.problem
        menus = target.menus[split]
        limit = target.period * float(t.clock_hz[kind]) * (1 + _REL)
        position = np.array([int(np.searchsorted(m.cycles, limit, side="right")) - 1 for m in menus])
        fabric = np.array([t.fabric[m.onchip[i]] if i >= 0 else np.zeros(3) for m, i in zip(menus, position)])
        return cls(position, prefix_sums(fabric), prefix_sums(np.asarray(t.stored_bytes[split], dtype=float)),
                   prefix_sums(np.asarray(t.gather_bytes[split], dtype=float)), np.flatnonzero(position < 0),
                   min(target.period * p.batch * float(t.memory_bandwidth[kind]) * (1 + _REL), float(t.memory_capacity[kind])))

    def first_missing(self, start: int) -> int:
        i = int(np.searchsorted(self.missing, start))
        return int(self.missing[i]) if i < len(self.missing) else len(self.position)

    def fabric_end(self, start: int, cap: np.ndarray) -> int:
        """The last end whose blocks' DSP, LUT and FF from ``start`` fit ``cap``."""
        ends = [int(np.searchsorted(self.fabric_prefix[:, r], self.fabric_prefix[start, r] + cap[r], side="right")) - 1
                for r in range(3)]
        return min(ends)

    def gather_end(self, start: int, room: float) -> int:
        """The last end whose all-gathers from ``start`` cross the links within ``room`` bytes per input."""
        return int(np.searchsorted(self.gather_prefix, self.gather_prefix[start] + room, side="right")) - 1


@dataclass(frozen=True)
class Run:
    """Layers ``start..end-1`` on the devices from ``device``, split ``ways`` ways (split index ``split``)."""

    device: int
    start: int
    end: int
    ways: int
    split: int


@dataclass
class Target:
    """Feasibility of runs of layers under one target period."""

    problem: Problem
    menus: list[list[LayerMenu]]  # per split
    period: float
    reach: dict[tuple[int, int, int], int] = field(default_factory=dict)  # (kind, split, start) -> furthest end
    layouts: dict[tuple[int, int], KindLayout] = field(default_factory=dict)

    def choice(self, kind: int, split: int, layer: int) -> int | None:
        """Position in the layer's menu of the fewest lanes meeting the period on ``kind`` (None: none does)."""
        pos = int(self.layout(kind, split).position[layer])
        return pos if pos >= 0 else None

    def layout(self, kind: int, split: int) -> KindLayout:
        if (kind, split) not in self.layouts:
            self.layouts[kind, split] = KindLayout.of(self, kind, split)
        return self.layouts[kind, split]

    def furthest(self, kind: int, split: int, start: int) -> int:
        """The last cut point ``j`` such that layers ``start..j-1`` fit one device of ``kind`` under the split
        (``start``: none)."""
        if (kind, split, start) not in self.reach:
            self.reach[kind, split, start] = self._furthest(kind, split, start)
        return self.reach[kind, split, start]

    def _furthest(self, kind: int, split: int, start: int) -> int:
        """Blocks, fabric and all-gathers by prefix sums; stored bytes: all streamable up to ``easy``, beyond it an
        exact subset sum."""
        lay, t = self.layout(kind, split), self.problem.devices
        cap = t.capacity[kind]
        end = min(lay.first_missing(start), lay.fabric_end(start, cap[:3] * (1 + _REL)),
                  lay.gather_end(start, self.period * t.link_bandwidth * (1 + _REL)))
        w = t.stored_bytes[split]
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

    def last_link_ok(self) -> np.ndarray:
        """Per cut point ``j``: the last cut point up to ``j`` whose activations cross a link within the period (the end
        of the chain always does; -1: none)."""
        t, n = self.problem.devices, self.problem.n_layers
        ok = t.boundary_bytes[: n + 1] / t.link_bandwidth <= self.period * (1 + _REL)
        ok[n] = True
        return np.maximum.accumulate(np.where(ok, np.arange(n + 1), -1))

    def cover(self) -> list[Run] | None:
        """Runs covering the chain under the period with the fewest devices, or None. A run that fits still fits
        without its first layers, so the furthest end from a cut never falls as the cut moves on: at each device
        position only the furthest cut point reached matters. A sweep over positions extends it by a run on the next
        device, or split over the next ``k`` devices of one kind, to the furthest end whose cut crosses its link."""
        p, t = self.problem, self.problem.devices
        n, devices = p.n_layers, p.accelerator_slots
        last_ok = self.last_link_ok()
        best: list[Run | None] = [None] * (devices + 1)  # position -> the run reaching the furthest cut there
        reach = [-1] * (devices + 1)
        reach[0] = 0
        for pos in range(devices):
            i = reach[pos]
            if i < 0:
                continue
            for split, ways in enumerate(t.splits):
                if pos + ways > devices or not self.uniform(pos, ways):
                    continue
                j = int(last_ok[self.furthest(t.chain[pos], split, i)])
                if j > i and j > reach[pos + ways]:
                    reach[pos + ways], best[pos + ways] = j, Run(pos, i, j, ways, split)
            if reach[pos + 1] == n:
                return _runs(best, pos + 1)
        return None

    def uniform(self, pos: int, ways: int) -> bool:
        """Whether devices ``pos .. pos + ways - 1`` are of one kind."""
        chain = self.problem.devices.chain
        return all(chain[d] == chain[pos] for d in range(pos + 1, pos + ways))

    def groups(self, runs: list[Run]) -> tuple:
        """The plan of ``runs``: fewest lanes per block, the largest subset of stored bytes that fits on chip."""
        t = self.problem.devices
        out = []
        for run in runs:
            kind = t.chain[run.device]
            weights = [float(t.stored_bytes[run.split, l]) for l in range(run.start, run.end)]
            on = _best_subset(weights, float(t.capacity[kind, 3]))
            configs = []
            for offset, l in enumerate(range(run.start, run.end)):
                pos = self.choice(kind, run.split, l)
                menu = self.menus[run.split][l]
                configs.append(int(menu.onchip[pos] if offset in on or weights[offset] == 0 else menu.streamed[pos]))
            out.append((run.device, tuple(range(run.start, run.end)), tuple(configs), run.ways))
        return tuple(out)


def _runs(best: list["Run | None"], pos: int) -> list[Run]:
    """Walk the runs back from device position ``pos``."""
    runs = []
    while pos > 0:
        run = best[pos]
        runs.append(run)
        pos = run.device
    return runs[::-1]


def _best_subset(weights: list[float], cap: float) -> set[int]:
    """Indices of the subset of ``weights`` with the largest sum within ``cap``."""
    reached = _subset_sums(weights, cap)
    s, chosen = max(reached), set()
    while reached[s] is not None:
        s, item = reached[s]
        chosen.add(item)
    return chosen


def _period_cap(problem: Problem) -> float | None:
    """The largest stage time the bounds allow: 1 / the throughput floor; for a served model also the latency bound
    over the sequences in flight (TPOT >= sequences x stage time)."""
    caps = [1.0 / problem.throughput_min] if problem.throughput_min else []
    if problem.workload is not None and problem.latency_max_s is not None:
        caps.append(problem.latency_max_s / problem.batch)
    return min(caps, default=None)


def solve_devices(problem: Problem, time_limit_s: float, seed: int, options: dict) -> Outcome:
    """Largest throughput on the chain of devices (``seed`` unused); a served model's least TPOT too (the same
    plan: TPOT = sequences / tokens/s); see the module docstring."""
    deadline = time.perf_counter() + time_limit_s
    menus = [layer_menus(problem, split) for split in range(len(problem.devices.splits))]
    clocks = problem.devices.clock_hz
    lo = max(min(float(m[l].cycles[0]) for m in menus) / float(clocks.max()) for l in range(problem.n_layers))
    hi = max(lo, 1e-9)
    cap = _period_cap(problem)
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
    note = "target search on the period, DP over cut points with subset-sum placement and tensor-parallel splits"
    if problem.workload is not None and finished:
        return _served(problem, found[1], lo, note, deadline)
    return Outcome(found[1], "optimal" if finished else "time_limit", 1.0 / lo if lo > 0 else None, note=note)


def _served(problem: Problem, groups: tuple, lo: float, note: str, deadline: float) -> Outcome:
    """A served model's plan of the least stage time: proven when S sequences keep the stages busy (one token's trip
    within S x the stage time, so tokens/s = 1 / stage time, the bound); else its tokens/s is S / trip and the
    bound stays 1 / the least stage time."""
    met = metrics(problem, groups, check_bounds=False)
    bound = 1.0 / lo if lo > 0 else None
    if met.throughput >= (bound or float("inf")) * (1 - 1e-6):
        return Outcome(groups, "optimal", bound, note=note)
    return Outcome(groups, "feasible", bound, note=note + f"; one token's trip ({met.latency_s * 1e3:.4g} ms) exceeds "
                   f"{problem.batch} sequences x the least stage time: tokens/s below the bound, not proven")
