"""The event loop: jobs on resources that run one job at a time, with dependencies, replayed in time order.

A :class:`Job` runs on one resource for ``duration_s``. It may start when every job it comes
``after`` has ended (plus that edge's lag, e.g. a link's latency) and, for a transfer that streams
alongside an operator, once the job it starts ``with_job`` has started. A job named as another's
``holds`` keeps its resource until that one has ended too (an operator whose weights stream from
memory ends when both its compute and its stream are done).

Dispatch rule: a free resource starts, among the jobs ready for it, the one with the smallest
``key`` (the forms use ``(input, layer, ...)``: the oldest input first); a resource marked
``fifo`` (a memory, a link: they serve requests as they come) the one that became ready first,
then the smallest key. Every event of an instant (ends, jobs becoming ready) is applied before
any resource picks its next job, so the rule sees every job ready at that instant; free
resources pick in index order, and a job made ready by a start (a stream) joins its queue before
the next pick. The replay is deterministic.
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence
from dataclasses import dataclass

from ..execution import SAME_INSTANT_S



@dataclass(frozen=True)
class Job:
    """One piece of work: an operator of an input on its accelerator, a transfer, a reconfiguration."""

    resource: int
    duration_s: float
    key: tuple
    kind: str  # "op" (an operator of one input), or a transfer / setup kind named in the trace
    label: str
    input: int = -1  # -1: not tied to one input (a weight load, a reconfiguration)
    layer: int = -1
    after: tuple[tuple[int, float], ...] = ()  # (job, lag_s): may start lag_s after that job ends
    with_job: int = -1  # may start once this job has started
    holds: int = -1  # the job that cannot end (release its resource) before this one has ended


@dataclass(frozen=True)
class Schedule:
    """When each job became ready, started and ended [s], in the order of the jobs given."""

    ready_s: tuple[float, ...]
    start_s: tuple[float, ...]
    end_s: tuple[float, ...]

    @property
    def makespan_s(self) -> float:
        return max(self.end_s, default=0.0)


class _Replay:
    """The state of one replay (see :func:`run`)."""

    def __init__(self, jobs: Sequence[Job], n_resources: int, fifo: Sequence[int]) -> None:
        self.jobs = jobs
        self.fifo = set(fifo)
        n = len(jobs)
        self.waiting = [len(j.after) + (j.with_job >= 0) for j in jobs]
        self.earliest = [0.0] * n
        self.ready = [float("nan")] * n
        self.start = [float("nan")] * n
        self.end = [float("nan")] * n
        self.computed = [False] * n
        self.unfinished_holds = [0] * n
        self.successors: list[list[tuple[int, float]]] = [[] for _ in jobs]
        self.starters: list[list[int]] = [[] for _ in jobs]
        for i, job in enumerate(jobs):
            for pred, lag in job.after:
                self.successors[pred].append((i, lag))
            if job.with_job >= 0:
                self.starters[job.with_job].append(i)
            if job.holds >= 0:
                self.unfinished_holds[job.holds] += 1
        self.queues: list[list[tuple[tuple, int]]] = [[] for _ in range(n_resources)]
        self.busy = [False] * n_resources
        self.touched: set[int] = set()  # resources freed or given a ready job since the last dispatch
        self.events: list[tuple[float, int, str, int]] = []
        self.seq = 0

    def push(self, time: float, what: str, job: int) -> None:
        heapq.heappush(self.events, (time, self.seq, what, job))
        self.seq += 1

    def satisfy(self, job: int, time: float) -> None:
        self.earliest[job] = max(self.earliest[job], time)
        self.waiting[job] -= 1
        if self.waiting[job] == 0:
            self.push(self.earliest[job], "ready", job)

    def finish(self, job: int, now: float) -> None:
        self.end[job] = now
        self.busy[self.jobs[job].resource] = False
        self.touched.add(self.jobs[job].resource)
        for succ, lag in self.successors[job]:
            self.satisfy(succ, now + lag)
        holder = self.jobs[job].holds
        if holder >= 0:
            self.unfinished_holds[holder] -= 1
            if self.unfinished_holds[holder] == 0 and self.computed[holder]:
                self.finish(holder, now)

    def apply(self, what: str, job: int, now: float) -> None:
        if what == "ready":
            self.ready[job] = now
            r = self.jobs[job].resource
            heapq.heappush(self.queues[r], (((now,) if r in self.fifo else ()) + self.jobs[job].key, job))
            self.touched.add(r)
        else:  # "computed": the job's own duration has elapsed
            self.computed[job] = True
            if self.unfinished_holds[job] == 0:
                self.finish(job, now)

    def dispatch(self, now: float) -> None:
        while self.touched:
            r = min(self.touched)
            self.touched.discard(r)
            queue = self.queues[r]
            if not self.busy[r] and queue:
                _, job = heapq.heappop(queue)
                self.busy[r], self.start[job] = True, now
                self.push(now + self.jobs[job].duration_s, "computed", job)
                for s in self.starters[job]:
                    self.satisfy(s, now)
                self.drain(now)  # what that start makes happen at this instant, before the next pick

    def drain(self, now: float) -> None:
        """Apply every event of the instant ``now``."""
        while self.events and self.events[0][0] <= now + SAME_INSTANT_S:
            _, _, what, job = heapq.heappop(self.events)
            self.apply(what, job, now)


def run(jobs: Sequence[Job], n_resources: int, fifo: Sequence[int] = ()) -> Schedule:
    """Replay ``jobs`` (their ``after``/``with_job``/``holds`` indices refer to this sequence) on
    ``n_resources`` resources (those in ``fifo`` serve in arrival order); raises ``ValueError`` when a
    job can never start (a dependency cycle)."""
    state = _Replay(jobs, n_resources, fifo)
    for i, waiting in enumerate(state.waiting):
        if waiting == 0:
            state.push(0.0, "ready", i)
    while state.events:
        now = state.events[0][0]
        state.drain(now)
        state.dispatch(now)
    unfinished = [jobs[i].label for i, e in enumerate(state.end) if e != e]
    if unfinished:
        raise ValueError(f"{len(unfinished)} jobs never ran (a dependency cycle), e.g. {unfinished[0]}")
    return Schedule(tuple(state.ready), tuple(state.start), tuple(state.end))
