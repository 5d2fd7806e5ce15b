"""The ``exhaustive`` strategy: enumerate every plan of a small problem; the reference for the others.

Pipeline form: every set partition of the layers into at most ``accelerator_slots`` groups (every
split into consecutive groups when the execution model is contiguous; one group when single);
each group takes every configuration (pruned only when the budgets are exceeded). Segment form:
segment cuts, cluster cuts and cluster sizes. Devices form: cuts of the chain into devices and a
block configuration per layer (:func:`block_options`). Every candidate is priced by the shared evaluator.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from dataclasses import dataclass

from ..execution.devices import DeviceGroup, block_options
from ..execution.pipeline import PipelineGroup
from ..execution.segments import SegmentGroup, segment_rules
from ..plan import Outcome, metrics
from ..problem import Problem

#: refuse problems whose (partitions x configurations) count exceeds this
MAX_CANDIDATES = 5_000_000


def partitions(n: int, max_groups: int, contiguous: bool) -> Iterator[list[list[int]]]:
    """Set partitions of ``range(n)`` into at most ``max_groups`` blocks (blocks ordered by first element)."""
    if contiguous:
        def cuts(start: int, left: int) -> Iterator[list[list[int]]]:
            if start == n:
                yield []
                return
            if left == 0:
                return
            for end in range(start + 1, n + 1):
                for rest in cuts(end, left - 1):
                    yield [list(range(start, end))] + rest
        yield from cuts(0, max_groups)
        return

    def grow(i: int, blocks: list[list[int]]) -> Iterator[list[list[int]]]:
        if i == n:
            yield [list(b) for b in blocks]
            return
        for b in blocks:
            b.append(i)
            yield from grow(i + 1, blocks)
            b.pop()
        if len(blocks) < max_groups:
            blocks.append([i])
            yield from grow(i + 1, blocks)
            blocks.pop()
    yield from grow(0, [])


def count_candidates(problem: Problem) -> int:
    """Upper bound on the candidates enumerated (partitions x configurations per group)."""
    total = 0
    for blocks in partitions(problem.n_layers, problem.accelerator_slots, problem.execution.contiguous):
        total += problem.n_configs ** len(blocks)
        if total > MAX_CANDIDATES:
            break
    return total


def segment_plans(problem: Problem) -> Iterator[tuple[tuple[int, tuple[int, ...], int], ...]]:
    """Every plan on a chiplet package: segment cuts x cluster cuts per segment x a configuration per cluster
    (chiplets per segment within the package, the execution model's rules applied)."""
    n = problem.n_layers
    max_len, allowed, max_clusters = segment_rules(problem)
    chiplets = problem.segments.chiplets

    def clusters(start: int, stop: int, left: int, count: int) -> Iterator[list[tuple[int, tuple[int, ...]]]]:
        if start == stop:
            yield []
            return
        if count == max_clusters:
            return
        for end in range(start + 1, min(stop, start + max_len) + 1):
            for c in allowed:
                g = problem.configs[c].units
                if g <= left:
                    for rest in clusters(end, stop, left - g, count + 1):
                        yield [(c, tuple(range(start, end)))] + rest

    def plans(start: int, seg: int) -> Iterator[list[tuple[int, tuple[int, ...], int]]]:
        if start == n:
            yield []
            return
        for end in range(start + 1, n + 1):
            for first in clusters(start, end, chiplets, 0):
                for rest in plans(end, seg + 1):
                    yield [SegmentGroup(c, ls, seg) for c, ls in first] + rest

    for plan in plans(0, 0):
        yield tuple(plan)


def too_many_pipelines(problem: Problem) -> str | None:
    """Why enumerating pipeline plans is refused: more candidates than :data:`MAX_CANDIDATES`."""
    if count_candidates(problem) > MAX_CANDIDATES:
        return (f"exhaustive enumeration of {problem.n_layers} layers x {problem.n_configs} configurations "
                f"exceeds {MAX_CANDIDATES:,} candidates")
    return None


def too_many_devices(problem: Problem) -> str | None:
    """Why enumerating device-chain plans is refused: more candidates than :data:`MAX_CANDIDATES`."""
    count = count_device_plans(problem)
    if count > MAX_CANDIDATES:
        return f"exhaustive enumeration of {count:,} device plans exceeds {MAX_CANDIDATES:,}"
    return None


def _device_cuts(n: int, devices: int) -> Iterator[list[tuple[int, ...]]]:
    for blocks in partitions(n, devices, True):
        yield [tuple(b) for b in blocks]


def _split_runs(problem: Problem, runs: list[tuple[int, ...]]) -> Iterator[tuple[tuple[int, int], ...]]:
    """Per run its first device position and ways (a split from the hardware's menu over devices of one kind),
    positions consecutive from 0 and within the chain."""
    t = problem.devices
    slots = problem.accelerator_slots

    def place(r: int, pos: int) -> Iterator[tuple[tuple[int, int], ...]]:
        if r == len(runs):
            yield ()
            return
        for ways in t.splits:
            if pos + ways <= slots and all(t.chain[d] == t.chain[pos] for d in range(pos, pos + ways)):
                for rest in place(r + 1, pos + ways):
                    yield ((pos, ways),) + rest
    yield from place(0, 0)


def count_device_plans(problem: Problem) -> int:
    """Cut structures x splits x block options per layer (an upper bound on what :func:`device_plans` yields)."""
    splits = len(problem.devices.splits)
    options = 1
    for l in range(problem.n_layers):
        options *= max(len(block_options(problem, l, s)) for s in range(splits)) * splits
        if options > MAX_CANDIDATES:
            return options
    devices = problem.accelerator_slots
    return options * sum(1 for _ in _device_cuts(problem.n_layers, devices))


def device_plans(problem: Problem) -> Iterator[tuple]:
    """Every plan of the devices form: cuts into at most the available devices, each run on one device or split over
    adjacent ones, x a block option per layer (of its share under the run's split)."""
    t = problem.devices
    options = [[block_options(problem, l, s) for l in range(problem.n_layers)] for s in range(len(t.splits))]
    devices = problem.accelerator_slots
    for runs in _device_cuts(problem.n_layers, devices):
        for placed in _split_runs(problem, runs):
            per_layer = [options[t.split_index(ways)][l] for ls, (_, ways) in zip(runs, placed) for l in ls]
            for choice in itertools.product(*per_layer):
                yield tuple(DeviceGroup(d, ls, tuple(choice[l] for l in ls), ways)
                            for ls, (d, ways) in zip(runs, placed))


@dataclass
class Enumeration:
    """The best plan seen so far while enumerating, and how far the enumeration got."""

    problem: Problem
    deadline: float
    best_value: float | None = None
    best_groups: tuple | None = None
    evaluations: int = 0
    finished: bool = True

    def out_of_time(self) -> bool:
        if time.perf_counter() > self.deadline:
            self.finished = False
        return not self.finished

    def offer(self, groups: tuple) -> None:
        """Price ``groups``; keep them when feasible and better than the best so far."""
        self.evaluations += 1
        met = metrics(self.problem, groups)
        if met.violations:
            return
        value = met.objective_value(self.problem.objective)
        if self.best_value is None or self.problem.objective.better(value, self.best_value):
            self.best_value, self.best_groups = value, groups

    def outcome(self) -> Outcome:
        if self.best_groups is None:
            return Outcome(None, "infeasible" if self.finished else "time_limit", evaluations=self.evaluations)
        return Outcome(self.best_groups, "optimal" if self.finished else "time_limit", evaluations=self.evaluations,
                       model_objective=self.best_value)


def _bounded(run: Enumeration, plans: Iterator[tuple]) -> None:
    for groups in plans:
        if run.evaluations % 256 == 0 and run.out_of_time():
            return
        if run.evaluations >= MAX_CANDIDATES:
            run.finished = False
            return
        run.offer(groups)


def _assignments(problem: Problem, blocks: list[list[int]]) -> Iterator[list[int]]:
    """Every configuration per block within the budgets."""
    cap = problem.capacity * (1 + 1e-9)

    def assign(k: int, chosen: list[int], used) -> Iterator[list[int]]:
        if k == len(blocks):
            yield list(chosen)
            return
        for c in range(problem.n_configs):
            nxt = used + problem.usage[c]
            if (nxt <= cap).all():
                chosen.append(c)
                yield from assign(k + 1, chosen, nxt)
                chosen.pop()
    yield from assign(0, [], problem.usage[0] * 0)


def _pipeline_plans(run: Enumeration) -> None:
    p = run.problem
    for blocks in partitions(p.n_layers, p.accelerator_slots, p.execution.contiguous):
        if run.out_of_time():
            return
        for configs in _assignments(p, blocks):
            run.offer(tuple(PipelineGroup(c, tuple(b)) for c, b in zip(configs, blocks)))


def solve_pipeline(problem: Problem, time_limit_s: float, seed: int, options: dict) -> Outcome:
    """Evaluate every pipeline plan within the budgets; the best feasible one is optimal when enumeration finishes in
    time (``seed`` unused)."""
    run = Enumeration(problem, time.perf_counter() + time_limit_s)
    _pipeline_plans(run)
    return run.outcome()


def solve_segments(problem: Problem, time_limit_s: float, seed: int, options: dict) -> Outcome:
    """Evaluate every segment plan; beyond :data:`MAX_CANDIDATES` the enumeration stops (``time_limit``, no proof)."""
    run = Enumeration(problem, time.perf_counter() + time_limit_s)
    _bounded(run, segment_plans(problem))
    return run.outcome()


def solve_devices(problem: Problem, time_limit_s: float, seed: int, options: dict) -> Outcome:
    """Evaluate every device-chain plan (cuts x block options per layer)."""
    run = Enumeration(problem, time.perf_counter() + time_limit_s)
    _bounded(run, device_plans(problem))
    return run.outcome()
