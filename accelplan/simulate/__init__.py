"""Replay a plan event by event on the problem's own per-layer tables, beside its analytical figures.

The analytical models (:mod:`accelplan.execution`) price a plan in closed form; the replay is
another *schedule* model on the same tables: every input of a batch goes through the layer
chain (layer ``l`` of input ``i`` after layer ``l - 1`` of input ``i``), each accelerator,
cluster or block runs one operator at a time, and DDR, DRAM, device memories and links are
shared resources that move one transfer at a time at their bandwidth (:mod:`.engine`; one
module per plan form builds the jobs, the one the form names as its ``replay``: :mod:`.pipeline`,
:mod:`.segments`, :mod:`.devices`, :mod:`.replicated`).

Dispatch rule: a free accelerator, cluster or block runs the ready operator of the oldest input
(the lowest input index) first. It keeps a batch in order (no input overtakes one that came
before it), the order the analytical fill-and-drain formula assumes. A re-entrant pipeline plan
records its own rule (:data:`accelplan.execution.pipeline.DISPATCHES`), the one its scheduled
latency is priced by, and the replay follows it. Memories and links serve transfers in the order they are asked for,
as a memory controller or a link does.

Figures (:func:`simulate`):

- latency: one batch, every input there at time 0, until the last result is out;
- throughput: pipeline and device chains: the steady state, measured as the marginal rate of a
  stream: ``(n2 - n1) / (T(n2) - T(n1))`` for ``n1 = max(STREAM_BATCHES * batch, MIN_STREAM_INPUTS)``
  inputs back to back (fewer batches, down to one, past ``STREAM_OPERATORS`` operators) and
  ``n2 = 2 * n1`` (``T``: when the last result is out), which cancels the fill and drain, capped
  at what the busiest resource allows (none serves inputs faster than it is held per input);
  segment plans: batch / batch time (a batch holds the whole package, segment after segment, so
  batches do not overlap);
- a lower bound on the latency of any schedule of the plan: one input alone, or the busiest
  resource's work over the batch (:func:`latency_bound_s`);
- busy fraction of each accelerator, cluster or device: the time its resources are held
  (device: its busiest block or its memory) per second of that same steady state (segment plans:
  over the batch).

Each figure is compared with the analytical one; outside :data:`TOLERANCE` (relative) the
simulation says which figure to believe and why (:mod:`.verdict`). The analytical latency of a
re-entrant pipeline plan (an input returning to an accelerator it has left) is its scheduled
latency (:func:`accelplan.execution.pipeline.scheduled_latency_s`: the same dispatch rule on the
operator times alone), not the closed form the strategies price, which no schedule need meet.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..execution import Metrics
from ..plugins import resolve
from .engine import Schedule, run
from .layout import Layout

if TYPE_CHECKING:
    from ..problem import Problem

TOLERANCE = 0.05  # relative difference within which the analytical and simulated figures agree
STREAM_BATCHES = 16  # batches back to back for the steady state (pipeline and device chains)
MIN_STREAM_INPUTS = 16  # ... and at least this many inputs
STREAM_OPERATORS = 50_000  # ... but fewer batches (at least one) when that many operators would be passed


@dataclass(frozen=True)
class Replay:
    """A layout and when its jobs ran."""

    layout: Layout
    schedule: Schedule

    def held_s(self, start_s: float, end_s: float) -> list[float]:
        """Per track, the seconds its resource was held within [start_s, end_s]."""
        held = [0.0] * len(self.layout.tracks)
        for job, b, e in zip(self.layout.jobs, self.schedule.start_s, self.schedule.end_s):
            held[job.resource] += max(0.0, min(e, end_s) - max(b, start_s))
        return held

    def waited_s(self, kind: str = "op") -> float:
        """Seconds, summed over the jobs of ``kind``, between being ready and starting (a resource was busy)."""
        s = self.schedule
        return sum(max(0.0, s.start_s[j] - s.ready_s[j]) for j, job in enumerate(self.layout.jobs) if job.kind == kind)

    def stretched_s(self) -> float:
        """Seconds, summed over the operators, they were held past their own time waiting for their streams."""
        s = self.schedule
        return sum(max(0.0, s.end_s[j] - s.start_s[j] - job.duration_s) for j, job in enumerate(self.layout.jobs)
                   if job.kind == "op")


@contextmanager
def _no_cycle_collection() -> Iterator[None]:
    """Pause Python's cyclic garbage collector: a replay allocates some 10^5 acyclic objects, whose collection passes
    took a third of its time (reference counting still frees them)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def replay(problem: "Problem", groups: tuple, inputs: int) -> Replay:
    """Replay ``inputs`` inputs through ``groups`` (the plan's groups, in plan order)."""
    with _no_cycle_collection():
        layout = resolve(problem.form.replay)(problem, problem.form.typed(groups), inputs)
        shared = [k for k, t in enumerate(layout.tracks) if t.shared]
        return Replay(layout, run(layout.jobs, len(layout.tracks), shared))


@dataclass(frozen=True)
class Figure:
    """One figure, analytical and simulated, in the same unit."""

    name: str
    unit: str
    analytical: float
    simulated: float

    @property
    def relative_difference(self) -> float:
        """(simulated - analytical) / analytical (0 when both are 0)."""
        if self.analytical == 0:
            return 0.0 if self.simulated == 0 else float("inf")
        return (self.simulated - self.analytical) / self.analytical

    @property
    def agrees(self) -> bool:
        return abs(self.relative_difference) <= TOLERANCE


@dataclass(frozen=True)
class Simulation:
    """A plan replayed: latency and throughput, each unit's busy fraction, both ways; the replay of one batch."""

    latency: Figure  # ms, one batch
    throughput: Figure  # inferences/s
    busy: tuple[Figure, ...]  # fraction (0-1) per accelerator, cluster or device, in plan order
    batch: Replay  # one batch: the latency and the trace
    stream_inputs: tuple[int, int]  # n1, n2 of the steady-state measure ((batch, batch) for segment plans)
    latency_bound_ms: float  # no schedule of the plan on these tables runs a batch faster (see latency_bound_s)

    @property
    def first_out_ms(self) -> float:
        """When the batch's first result is out [ms]."""
        return min(self.batch.schedule.end_s[j] for j in self.batch.layout.outputs) * 1e3


@dataclass(frozen=True)
class Steady:
    """The steady state: seconds per input, each track's held seconds per second, the stream lengths measured."""

    period_s: float
    held: tuple[float, ...]
    inputs: tuple[int, int]


def _steady(problem: "Problem", groups: tuple, batch: Replay) -> Steady:
    """The steady state of the plan (see the module docstring)."""
    if not problem.form.streams:
        span = batch.schedule.makespan_s
        return Steady(span / batch.layout.inputs, tuple(h / span for h in batch.held_s(0.0, span)),
                      (batch.layout.inputs,) * 2)
    n1 = max(MIN_STREAM_INPUTS, min(STREAM_BATCHES * problem.batch,
                                    max(problem.batch, STREAM_OPERATORS // problem.n_layers)))
    short, long = replay(problem, groups, n1), replay(problem, groups, 2 * n1)
    per_input = [(b - a) / n1 for a, b in zip(short.held_s(0.0, float("inf")), long.held_s(0.0, float("inf")))]
    # no resource serves inputs faster than it is held per input: the estimate never beats that
    period = max((long.schedule.makespan_s - short.schedule.makespan_s) / n1, max(per_input, default=0.0))
    return Steady(period, tuple(h / period for h in per_input), (n1, 2 * n1))


def latency_bound_s(problem: "Problem", groups: tuple, batch: Replay) -> float:
    """A lower bound on any schedule's batch time: one input alone (nothing to wait for), or the work of the busiest
    resource over the batch (it runs one job at a time)."""
    work = [0.0] * len(batch.layout.tracks)
    for job in batch.layout.jobs:
        work[job.resource] += job.duration_s
    return max(replay(problem, groups, 1).schedule.makespan_s, max(work, default=0.0))


def sequence_interval_s(problem: "Problem", replayed: Replay) -> float:
    """A served model's time per output token as the replay runs it: per sequence (input ``i`` a token of sequence
    ``i mod S``), the time between its first and last token out over the tokens between, averaged over sequences."""
    ends = [replayed.schedule.end_s[j] for j in replayed.layout.outputs]
    s = problem.batch
    steps = len(ends) // s - 1
    return sum(ends[q + steps * s] - ends[q] for q in range(s)) / (s * steps) if steps > 0 else float("nan")


def simulate(problem: "Problem", groups: tuple, analytical: Metrics, unit_names: list[str]) -> Simulation:
    """Replay ``groups`` and set the simulated figures beside ``analytical`` (the form's metrics of the same groups;
    the latency: the form's ``replay_latency_s``); ``unit_names``: the plan's accelerators, clusters or
    devices, in plan order."""
    form = problem.form
    batch = replay(problem, groups, problem.batch)
    steady = _steady(problem, groups, batch)
    tracks = batch.layout.tracks
    busy = tuple(Figure(name, "fraction", analytical.busy_s[u] / analytical.period_s,
                        max(h for h, t in zip(steady.held, tracks) if t.unit == u))
                 for u, name in enumerate(unit_names))
    latency = batch.schedule.makespan_s
    if problem.workload is not None:  # a served model's latency is its time per output token
        latency = sequence_interval_s(problem, replay(problem, groups, steady.inputs[1]))
    return Simulation(Figure("latency", "ms", form.replay_latency_s(problem, groups, analytical) * 1e3, latency * 1e3),
                      Figure("throughput", "inferences/s", analytical.throughput,
                             1.0 / steady.period_s if steady.period_s > 0 else float("inf")),
                      busy, batch, steady.inputs, latency_bound_s(problem, groups, batch) * 1e3)
