"""The solve's own check of a re-entrant pipeline plan's latency: one batch replayed beside the closed form.

The closed form (one input's stage times + (batch - 1) x period, :mod:`accelplan.execution.pipeline`) is
exact for accelerators that each run consecutive layers; when an input returns to an accelerator it has
left (a re-entrant hybrid plan) it waits there while that accelerator serves other inputs, which the
closed form does not count. For such a plan ``solve`` replays one batch (:func:`accelplan.simulate.replay`,
the replay ``accelplan simulate`` runs) so that its outputs give both figures and say which to believe.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from . import Figure, replay
from .verdict import Reentry, reentry

if TYPE_CHECKING:
    from ..problem import Problem


@dataclass(frozen=True)
class LatencyCheck:
    """A batch's latency by the closed form and by the replay (``latency``, ms), and the plan's moves that explain
    a difference."""

    latency: Figure
    moves: Reentry


def latency_check(problem: "Problem", groups: tuple, analytical_latency_s: float) -> LatencyCheck | None:
    """Replay one batch of ``groups`` when the plan is re-entrant (else None: the closed form needs no check)."""
    moves = reentry(problem, groups)
    if not moves.returns:
        return None
    batch = replay(problem, groups, problem.batch)
    return LatencyCheck(Figure("latency", "ms", analytical_latency_s * 1e3, batch.schedule.makespan_s * 1e3), moves)
