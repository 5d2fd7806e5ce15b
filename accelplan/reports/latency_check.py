"""The solve's latency check of a re-entrant pipeline plan (:mod:`accelplan.simulate.check`) in its outputs:
a report section, a terminal line and a ``--json`` object. Read from the check; nothing is replayed here."""

from __future__ import annotations

from typing import Any

from ..families import ReportTable
from ..simulate import TOLERANCE
from ..simulate.check import LatencyCheck


def _verdict(check: LatencyCheck) -> str:
    if check.latency.agrees:
        return f"The plan is re-entrant; the two agree within {100 * TOLERANCE:g} %."
    return (f"The plan is re-entrant and the two differ by more than {100 * TOLERANCE:g} %: believe the replay. An "
            f"input returns {check.moves.returns} times to an accelerator it has left ({check.moves.handoffs} hand-offs "
            "per input) "
            "and waits there while that accelerator serves other inputs, which the closed form does not count; "
            "`accelplan simulate` shows the schedule.")


def latency_check_table(check: LatencyCheck) -> ReportTable:
    """Both figures and their difference."""
    return ReportTable("Latency of a batch, checked by a replay", ("", "ms"),
                       (("closed form (stage times + (batch − 1) × period)", f"{check.latency.analytical:.4f}"),
                        ("replay of one batch (oldest input first)", f"{check.latency.simulated:.4f}"),
                        ("difference", f"{100 * check.latency.relative_difference:+.2f} %")))


def latency_check_markdown(check: LatencyCheck) -> str:
    """The check as a report section."""
    table = latency_check_table(check)
    out = [f"## {table.title}", "", "| " + " | ".join(table.header) + " |", "|" + "---|" * len(table.header)]
    out += ["| " + " | ".join(row) + " |" for row in table.rows]
    return "\n".join(out + ["", _verdict(check), ""])


def latency_check_json(check: LatencyCheck) -> dict[str, Any]:
    """The check for ``--json``."""
    fig = check.latency
    return {"analytical_ms": fig.analytical, "simulated_ms": fig.simulated, "relative_difference": fig.relative_difference,
            "agrees": fig.agrees, "tolerance": TOLERANCE, "handoffs": check.moves.handoffs, "returns": check.moves.returns}


def latency_check_line(check: LatencyCheck) -> str:
    """One terminal line."""
    fig = check.latency
    return (f"latency replayed {fig.simulated:.4f} ms ({100 * fig.relative_difference:+.2f} % against the "
            f"closed form): {'agree' if fig.agrees else 'believe the replay (re-entrant plan)'}")
