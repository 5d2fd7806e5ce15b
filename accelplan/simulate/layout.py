"""What a form's replay is made of: tracks (the resources, as the trace shows them) and jobs, plus a builder."""

from __future__ import annotations

from dataclasses import dataclass, field

from .engine import Job


@dataclass(frozen=True)
class Track:
    """A resource that runs one job at a time, and a row of the trace.

    ``unit``: the plan's accelerator, cluster or device (its index in the plan) the resource belongs
    to, whose busy fraction it counts in; -1 for a resource of the whole plan (DDR, a link, the
    package's reconfiguration). ``shared``: a memory or link that serves requests in arrival order
    (see :mod:`.engine`). ``group``: the trace process it is drawn under.
    """

    name: str
    group: str
    unit: int = -1
    shared: bool = False


@dataclass(frozen=True)
class Layout:
    """The jobs of a replay of ``inputs`` inputs, the tracks they run on, and per input the job ending it."""

    tracks: tuple[Track, ...]
    jobs: tuple[Job, ...]
    outputs: tuple[int, ...]  # per input: the job whose end is that input's result leaving the plan
    inputs: int


@dataclass
class LayoutBuilder:
    """Collects tracks and jobs; ``add`` returns the index later jobs refer to."""

    tracks: list[Track] = field(default_factory=list)
    jobs: list[Job] = field(default_factory=list)

    def track(self, name: str, group: str, unit: int = -1, shared: bool = False) -> int:
        self.tracks.append(Track(name, group, unit, shared))
        return len(self.tracks) - 1

    def add(self, job: Job) -> int:
        self.jobs.append(job)
        return len(self.jobs) - 1

    def stream(self, op: int, resource: int, duration_s: float, kind: str, label: str, previous: int,
               after: tuple[tuple[int, float], ...] = ()) -> None:
        """The weights operator ``op`` streams from a memory: fetched into a double buffer, so the transfer may
        start once the same layer's previous operator (``previous``, -1 for the first input) has started (and
        the jobs ``after`` have ended), and ``op`` ends when both its own time and the transfer are done."""
        base = self.jobs[op]
        self.add(Job(resource, duration_s, base.key + (1,), kind, label, base.input, base.layer, after,
                     with_job=previous, holds=op))

    def layout(self, outputs: list[int], inputs: int) -> Layout:
        return Layout(tuple(self.tracks), tuple(self.jobs), tuple(outputs), inputs)
