"""A plan file simulated: the source, the analytical metrics of the same groups, the replay and the verdicts."""

from __future__ import annotations

from dataclasses import dataclass

from .. import families
from ..execution import Metrics
from ..plan import metrics
from . import Simulation, simulate
from .source import Source
from .trace import trace_events
from .verdict import Facts, Verdict, facts, verdicts


@dataclass(frozen=True)
class PlanSimulation:
    """Everything ``simulate.md``, ``trace.json`` and ``--json`` show (read by :mod:`accelplan.reports.simulate`)."""

    source: Source
    analytical: Metrics  # the groups priced now, on the tables the replay reads
    simulation: Simulation
    verdicts: tuple[Verdict, ...]
    facts: Facts
    unit_word: str  # how the family names an accelerator (cluster, device)

    @property
    def stale(self) -> bool:
        """True when the plan file's figures differ from the groups priced now (the cost model moved since)."""
        plan, m = self.source.plan, self.analytical
        return any(v is None or abs(v - w) > 1e-6 * max(abs(w), 1e-30)
                   for v, w in ((plan.latency_ms, m.latency_s * 1e3), (plan.throughput, m.throughput)))

    @property
    def analytical_first_out_ms(self) -> float | None:
        """When the analytical model has the batch's first result out: latency - (batch - 1) x period (pipelines and
        device chains; None for segment plans, whose batch runs segment after segment)."""
        if not self.source.problem.form.streams:
            return None
        m = self.analytical
        return (m.latency_s - (self.source.problem.batch - 1) * m.period_s) * 1e3

    @property
    def constraint_notes(self) -> tuple[str, ...]:
        """The study's latency bound and throughput floor that the simulated figures miss (the plan was chosen on the
        analytical ones)."""
        problem, sim, out = self.source.problem, self.simulation, []
        if problem.latency_max_s is not None and sim.latency.simulated > problem.latency_max_s * 1e3 * (1 + 1e-9):
            out.append(f"the simulated latency {sim.latency.simulated:.6g} ms exceeds the study's latency_max_ms "
                       f"{problem.latency_max_s * 1e3:g}")
        if problem.throughput_min is not None and sim.throughput.simulated < problem.throughput_min * (1 - 1e-9):
            out.append(f"the simulated throughput {sim.throughput.simulated:.6g}/s is below the study's throughput_min "
                       f"{problem.throughput_min:g}")
        return tuple(out)

    def trace(self) -> dict:
        return trace_events(self.simulation.batch, [layer.name for layer in self.source.problem.layers],
                            f"accelplan simulate: {self.source.plan.model} on {self.source.plan.hardware} "
                            f"({self.source.plan.execution}, batch {self.source.plan.batch})")


def simulate_source(source: Source) -> PlanSimulation:
    """Price the source's groups with the form's analytical model, replay them, and judge the difference."""
    problem, groups = source.problem, source.groups
    analytical = metrics(problem, groups, check_bounds=False)
    words = families.get(problem.family).words
    names = [f"{words.accelerator} {a.index}" for a in source.plan.accelerators]
    sim = simulate(problem, groups, analytical, names)
    found = facts(problem, groups, analytical, sim)
    return PlanSimulation(source, analytical, sim, verdicts(found, sim), found, words.accelerator)
