"""Which figure to believe when the replay and the analytical model disagree beyond the tolerance, and why.

The facts behind a verdict are measured on the replay (waiting, streams) or read from the plan's
groups (re-entry) and the analytical metrics (a segment plan's fixed costs: its batch time less
``sum_c T_c + (batch - 1) max_c T_c`` of each segment, from the analytical cluster times); no
table is read here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..execution import Metrics
from . import TOLERANCE, Figure, Simulation

if TYPE_CHECKING:
    from ..problem import Problem


@dataclass(frozen=True)
class Facts:
    """What explains a difference: re-entry of a pipeline plan, waiting and stream time in the batch, fixed costs."""

    handoffs: int  # an input moving between accelerators, per input (pipeline plans; 0 otherwise)
    reentrant: int  # accelerators an input returns to after leaving them (pipeline plans)
    waited_ms: float  # over the batch: operators ready but their accelerator (cluster, block) busy
    stretched_ms: float  # over the batch: operators held waiting for their weights from a shared memory
    fixed_ms: float  # segment plans: what the analytical batch time adds besides the pipelined clusters
    shared_paced: bool  # the analytical period is set by a shared resource (DDR, a link), not by an accelerator


@dataclass(frozen=True)
class Verdict:
    """One figure's agreement, and when outside the tolerance which figure to believe and why."""

    figure: str
    agrees: bool
    believe: str  # "both" | "simulation"
    why: str


def facts(problem: "Problem", groups: tuple, analytical: Metrics, sim: Simulation) -> Facts:
    """The facts of ``groups`` replayed in ``sim`` and priced in ``analytical`` (see the module docstring)."""
    form = problem.form
    handoffs, reentrant = form.handoffs(problem, groups)
    fixed_ms = form.fixed_latency_s(problem, groups, analytical) * 1e3
    shared_paced = (form.streams  # a segment plan's period is its batch time / batch
                    and analytical.period_s > max(analytical.busy_s, default=0.0) * (1 + 1e-9))
    return Facts(handoffs, reentrant, sim.batch.waited_s() * 1e3, sim.batch.stretched_s() * 1e3, fixed_ms,
                 shared_paced)


def _latency_why(f: Facts, fig: Figure) -> str:
    if fig.simulated > fig.analytical:
        if f.stretched_ms > 1e-9:
            return (f"operators wait for their weights from a shared memory ({f.stretched_ms:.3g} ms summed over the "
                    "batch), which the analytical latency does not count")
        return (f"inputs wait for busy resources ({f.waited_ms:.3g} ms summed over the batch) longer than the "
                "(batch - 1) periods the analytical latency counts")
    if f.fixed_ms > 0:
        return ("the analytical batch time adds the weight loads, reconfigurations and DRAM crossings "
                f"({f.fixed_ms:.3g} ms) one after another; the replay loads a cluster's weights and moves an input "
                "across DRAM while other clusters and inputs compute (the analytical figure is the one for a package "
                "that cannot overlap them)")
    if f.reentrant:
        return (f"the plan is re-entrant ({f.reentrant} returns to an accelerator used before): the weights streaming "
                "from the shared memory delay some operators, and the oldest-input-first rule then serves the inputs "
                "in another order than on the operator times alone, here a faster one; both are schedules of the plan")
    if f.shared_paced:
        return ("the period is set by a shared resource (the DDR or a link), not by an accelerator: the analytical "
                "latency adds (batch - 1) such periods to one input's stage times, while in the replay that resource "
                "already serves the next inputs during the first one's stages")
    return ("every input is there at time 0, so the first stages run ahead of the one-period spacing the analytical "
            "latency assumes; the replay is a schedule that runs on the same tables")


def _throughput_why(f: Facts, fig: Figure, sim: Simulation) -> str:
    if fig.simulated < fig.analytical:
        busiest = max(sim.busy, key=lambda b: b.simulated)
        what = (f"the plan is re-entrant ({f.reentrant} returns to an accelerator used before): " if f.reentrant else "")
        return (what + "the analytical throughput assumes the busiest accelerator or memory never waits; in the replay "
                f"the busiest ({busiest.name}) is busy {100 * busiest.simulated:.1f} % of the steady state and waits "
                "for inputs or weights the rest")
    if f.fixed_ms > 0:
        return (f"the analytical batch time adds the fixed costs ({f.fixed_ms:.3g} ms per batch) one after another; the "
                "replay overlaps the weight loads and DRAM crossings with the clusters' work")
    return "the replay's steady state sustains more than the analytical period, which counts waiting it does not need"


def verdicts(f: Facts, sim: Simulation) -> tuple[Verdict, ...]:
    """A verdict on the latency and one on the throughput (``TOLERANCE``: relative), from the replay's ``f``."""
    out = []
    for fig, why in ((sim.latency, lambda: _latency_why(f, sim.latency)),
                     (sim.throughput, lambda: _throughput_why(f, sim.throughput, sim))):
        if fig.agrees:
            out.append(Verdict(fig.name, True, "both", f"within {100 * TOLERANCE:g} %"))
        else:
            out.append(Verdict(fig.name, False, "simulation", "believe the simulation: " + why()))
    return tuple(out)
