"""A re-entrant pipeline plan's two latencies in its outputs: a report section and a terminal line.

Read from the plan (:attr:`accelplan.plan.Plan.scheduled_latency_ms` beside ``latency_ms``); nothing is priced here.
"""

from __future__ import annotations

from ..families import ReportTable
from ..plan import Plan


def _difference(plan: Plan) -> float:
    """(closed form - scheduled) / scheduled: how far the closed form is from the schedule's latency."""
    return (plan.latency_ms - plan.scheduled_latency_ms) / plan.scheduled_latency_ms


def batch_latency_table(plan: Plan) -> ReportTable:
    """Both latencies of a re-entrant plan (``plan.scheduled_latency_ms`` is not None) and their difference."""
    return ReportTable("Latency of a batch, as scheduled", ("", "ms"),
                       (("as scheduled (oldest input first, on the operator times)", f"{plan.scheduled_latency_ms:.4f}"),
                        ("closed form the strategies priced (stage times + (batch − 1) × period)",
                         f"{plan.latency_ms:.4f}"),
                        ("closed form against the schedule", f"{100 * _difference(plan):+.2f} %")))


def batch_latency_markdown(plan: Plan) -> str:
    """The two latencies as a report section, with what they mean."""
    table = batch_latency_table(plan)
    out = [f"## {table.title}", "", "| " + " | ".join(table.header) + " |", "|" + "---|" * len(table.header)]
    out += ["| " + " | ".join(row) + " |" for row in table.rows]
    return "\n".join(out + ["", "The plan is re-entrant: an input returns to an accelerator it has left and waits there "
                            "while that accelerator serves other inputs. No closed form gives that batch's time, so the "
                            "plan's latency is the one its schedule runs; the closed form is the one the strategies "
                            "price, and the latency bound and objective are on it. `accelplan simulate` replays the "
                            "schedule with the weights streaming from the shared DDR as well.", ""])


def batch_latency_line(plan: Plan) -> str:
    """One terminal line."""
    return (f"latency as scheduled {plan.scheduled_latency_ms:.4f} ms (re-entrant plan; the closed form above, which the "
            f"strategies priced, is {100 * _difference(plan):+.2f} % off it)")
