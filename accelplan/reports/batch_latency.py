"""A re-entrant pipeline plan's two latencies in its outputs: a report section and a terminal line.

Read from the plan (:attr:`accelplan.plan.Plan.latency_ms`, the schedule's, beside ``closed_form_latency_ms`` and the
``dispatch`` rule); nothing is priced here.
"""

from __future__ import annotations

from ..execution.pipeline import DISPATCHES
from ..families import ReportTable
from ..plan import Plan

#: what each dispatch rule does, in words (declared with the rules)
DISPATCH_WORDS = {rule.name: rule.summary for rule in DISPATCHES}


TITLE = "Latency of a batch, as scheduled"


def _difference(plan: Plan) -> float:
    """(closed form - scheduled) / scheduled: how far the closed form is from the schedule's latency."""
    return (plan.closed_form_latency_ms - plan.latency_ms) / plan.latency_ms


def dispatch_words(plan: Plan) -> str:
    """The plan's dispatch rule in words."""
    return DISPATCH_WORDS.get(plan.dispatch, plan.dispatch or "the oldest input's ready layer first")


def batch_latency_table(plan: Plan) -> ReportTable:
    """Both latencies of a re-entrant plan (``plan.closed_form_latency_ms`` is not None) and their difference."""
    return ReportTable(TITLE, ("", "ms"),
                       ((f"as scheduled (the plan's latency; each accelerator runs {dispatch_words(plan)})",
                         f"{plan.latency_ms:.4f}"),
                        ("closed form (stage times + (batch − 1) × period)", f"{plan.closed_form_latency_ms:.4f}"),
                        ("closed form against the schedule", f"{100 * _difference(plan):+.2f} %")))


def batch_latency_markdown(plan: Plan) -> str:
    """The two latencies as a report section, with what they mean."""
    table = batch_latency_table(plan)
    out = [f"## {table.title}", "", "| " + " | ".join(table.header) + " |", "|" + "---|" * len(table.header)]
    out += ["| " + " | ".join(row) + " |" for row in table.rows]
    return "\n".join(out + ["", "The plan is re-entrant: an input returns to an accelerator it has left and waits there "
                            "while that accelerator serves other inputs. No closed form gives that batch's time, so the "
                            "plan's latency is the one its schedule runs (believe it; the closed form is what the exact "
                            "formulations price, and a latency bound or objective is checked on the schedule). "
                            "`accelplan simulate` replays the same dispatch with the weights streaming from the shared "
                            "DDR as well.", ""])


def batch_latency_line(plan: Plan) -> str:
    """One terminal line."""
    return (f"latency above is as scheduled ({dispatch_words(plan)}); the closed form, {plan.closed_form_latency_ms:.4f} "
            f"ms, is {100 * _difference(plan):+.2f} % off it (re-entrant plan)")
