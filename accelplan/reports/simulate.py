"""``simulate.md``, the terminal lines and the ``--json`` object of ``accelplan simulate``.

Read from a :class:`~accelplan.simulate.result.PlanSimulation`; nothing is priced or replayed here.
"""

from __future__ import annotations

from typing import Any

from ..simulate import MIN_STREAM_INPUTS, STREAM_BATCHES, TOLERANCE, Figure
from ..simulate.result import PlanSimulation
from ..simulate.verdict import Verdict
from .batch_latency import dispatch_words
from .tables import headline, title


def _figure_json(fig: Figure, verdict: Verdict | None = None) -> dict[str, Any]:
    out = {"analytical": fig.analytical, "simulated": fig.simulated, "relative_difference": fig.relative_difference,
           "agrees": fig.agrees}
    if verdict is not None:
        out |= {"believe": verdict.believe, "why": verdict.why}
    return out


def _closed_form_ms(result: PlanSimulation) -> float | None:
    """The plan's closed-form latency: its own where it records one apart (a re-entrant plan), else its latency."""
    plan = result.source.plan
    return plan.closed_form_latency_ms if plan.closed_form_latency_ms is not None else plan.latency_ms


def simulation_json(result: PlanSimulation) -> dict[str, Any]:
    """One object: the plan, the tolerance, latency and throughput both ways with the verdicts, busy fractions."""
    src, sim, f = result.source, result.simulation, result.facts
    lat, thr = result.verdicts
    return {
        "plan": str(src.path), "study": src.study.file or src.study.name, "model": src.plan.model,
        "hardware": src.plan.hardware, "execution": src.plan.execution, "batch": src.problem.batch,
        "tolerance": TOLERANCE, "latency_ms": _figure_json(sim.latency, lat),
        "throughput": _figure_json(sim.throughput, thr),
        "busy": [{"name": b.name, **_figure_json(b)} for b in sim.busy],
        "latency_closed_form_ms": _closed_form_ms(result), "latency_bound_ms": sim.latency_bound_ms,
        "first_out_ms": {"analytical": result.analytical_first_out_ms, "simulated": sim.first_out_ms},
        "handoffs": f.handoffs, "reentrant": f.reentrant,
        "waited_ms": f.waited_ms, "stretched_ms": f.stretched_ms,
        "steady_state_inputs": list(sim.stream_inputs), "stale": result.stale,
        "constraints_missed": list(result.constraint_notes),
        "plan_file": {"latency_ms": src.plan.latency_ms, "throughput": src.plan.throughput},
    }


def _pct(x: float) -> str:
    return f"{100 * x:+.2f} %" if abs(x) >= 5e-5 else "0.00 %"


def _fmt(x: float) -> str:
    return f"{x:.6g}"


def _ms(x: float) -> str:
    """A sum of waits [ms]: rounding noise (below a nanosecond) shown as 0."""
    return f"{x:.4g}" if x >= 1e-6 else "0"


def _head(result: PlanSimulation) -> list[str]:
    src, plan = result.source, result.source.plan
    lines = [f"# Simulation: {title(plan)} ({plan.execution}, batch {src.problem.batch})", "",
             f"Plan `{src.path}` (study `{src.study.file or src.study.name}`), replayed event by event on the per-layer "
             "tables of the problem tabulated now, beside the analytical model's figures of the same plan on the same "
             f"tables. Tolerance: {100 * TOLERANCE:g} % (relative); outside it the verdict says which figure to "
             "believe.", ""]
    if result.stale:
        lines += [f"> The plan file's own figures (latency {_fmt(plan.latency_ms or 0)} ms, throughput "
                  f"{_fmt(plan.throughput or 0)}/s) differ from its plan priced now: the cost model changed since it was "
                  "solved. Every figure below is of the tables now; solve again for a plan that is best on them.", ""]
    lines += [f"> **Constraint missed in the simulation:** {note} (the plan was chosen on the analytical figures)."
              for note in result.constraint_notes]
    return lines + ([""] if result.constraint_notes else [])


def _figures(result: PlanSimulation) -> list[str]:
    sim = result.simulation
    lines = ["| figure | analytical | simulated | difference | verdict |", "|---|---:|---:|---:|---|"]
    for label, fig, verdict in (("latency (ms, one batch)", sim.latency, result.verdicts[0]),
                                ("throughput (inferences/s)", sim.throughput, result.verdicts[1])):
        lines.append(f"| {label} | {_fmt(fig.analytical)} | {_fmt(fig.simulated)} | {_pct(fig.relative_difference)} | "
                     f"{'agree, ' + verdict.why if verdict.agrees else verdict.why} |")
    if result.facts.reentrant:
        lines += ["", f"The plan is re-entrant ({result.facts.reentrant} returns per input to {result.unit_word}s it used "
                  f"before), so its analytical latency is its scheduled one: the batch under the plan's dispatch "
                  f"({dispatch_words(result.source.plan)}) on the operator times alone, which the replay follows. The "
                  f"closed form (one input's stage times + (batch − 1) × period) says {_fmt(_closed_form_ms(result))} "
                  "ms, which no schedule need meet once inputs return."]
    lines += ["", f"No schedule of this plan on these tables runs a batch in less than {_fmt(sim.latency_bound_ms)} ms "
              "(one input alone, or the busiest resource's work over the batch): a cleverer dispatch could shorten "
              "the simulated latency, never below that.", "",
              f"## Busy fraction per {result.unit_word}", "", "| | analytical | simulated | difference |",
              "|---|---:|---:|---:|"]
    return lines + [f"| {b.name} | {b.analytical:.4f} | {b.simulated:.4f} | {_pct(b.relative_difference)} |"
                    for b in sim.busy]


def _how(result: PlanSimulation) -> list[str]:
    sim, f, word = result.simulation, result.facts, result.unit_word
    n1, n2 = sim.stream_inputs
    steady = (f"the marginal rate between a stream of {n1} and one of {n2} inputs back to back "
              f"(n = max({STREAM_BATCHES} batches, {MIN_STREAM_INPUTS} inputs), then 2n: fill and drain cancel)"
              if n1 != n2 else "batch / batch time (batches do not overlap: each holds the whole package)")
    first = ("" if result.analytical_first_out_ms is None else
             f"; analytically at {_fmt(result.analytical_first_out_ms)} ms, the rest one period apart")
    reentry = (f"; each input makes {f.handoffs} hand-offs between accelerators and returns {f.reentrant} times to one "
               "it used before" if f.handoffs else "")
    return ["", "## How the replay ran", "",
            f"- Latency: one batch, every input there at time 0, until the last result is out (the first is out at "
            f"{_fmt(sim.first_out_ms)} ms{first}). Throughput: {steady}. "
            f"Busy fraction: the time each {word}'s resources are held per second of that steady state.",
            f"- Dispatch: a free accelerator, cluster or block runs {dispatch_words(result.source.plan)} (the plan's "
            "rule; the oldest input first keeps a batch in order, the order the analytical fill-and-drain assumes); "
            "memories and links serve transfers in the order they are asked for.",
            f"- In the batch: operators waited {_ms(f.waited_ms)} ms in all for a busy resource and "
            f"{_ms(f.stretched_ms)} ms for their weights{reentry}.",
            "- `trace.json`: one event per (input, layer) and the transfers, one track per accelerator, cluster or "
            "block and per shared resource; open it in https://ui.perfetto.dev or chrome://tracing.", ""]


def simulation_markdown(result: PlanSimulation) -> str:
    """The report: figures with their verdicts, busy fractions, how the replay ran and what the trace holds."""
    return "\n".join(_head(result) + _figures(result) + _how(result))


def simulation_table(result: PlanSimulation) -> str:
    """A few lines for the terminal."""
    sim = result.simulation
    out = [headline(result.source.plan, f"batch {result.source.problem.batch}", f"tolerance {100 * TOLERANCE:g} %"),
           f"{'':11} {'analytical':>12} {'simulated':>12} {'difference':>11}"]
    for label, fig, verdict in (("latency ms", sim.latency, result.verdicts[0]),
                                ("throughput", sim.throughput, result.verdicts[1])):
        out.append(f"{label:11} {fig.analytical:12.6g} {fig.simulated:12.6g} {_pct(fig.relative_difference):>11}  "
                   + ("agree" if verdict.agrees else verdict.why))
    if result.stale:
        out.append("note: the plan file's figures differ from the plan priced now "
                   "(the cost model changed since it was solved)")
    out += [f"note: {note}" for note in result.constraint_notes]
    return "\n".join(out)
