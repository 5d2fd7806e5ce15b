"""The plan beside the same model on the study's reference hardware (e.g. a GPU roofline): the comparison
users of many-device systems make first. Both plans are read as they are; nothing is recomputed."""

from __future__ import annotations

from typing import Any

from ..families import ReportTable
from ..plan import Plan


def _ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def _per_joule(plan: Plan) -> float | None:
    return 1e3 / plan.energy_mj if plan.energy_mj else None


#: (row label, how to read it off a plan, number format)
_METRICS = (("throughput (inferences/s)", lambda p: p.throughput, ".2f"),
            ("latency of a batch (ms)", lambda p: p.latency_ms, ".4f"),
            ("energy (mJ per inference)", lambda p: p.energy_mj, ".4f"),
            ("inferences per joule", _per_joule, ".3f"))


def _cell(value: float | None, spec: str) -> str:
    return "—" if value is None else format(value, spec)


def reference_table(plan: Plan, reference: Plan) -> ReportTable:
    """Each metric on the plan's hardware and on the reference's, and their ratio (plan / reference)."""
    rows = tuple((label, _cell(get(plan), spec), _cell(get(reference), spec), _cell(_ratio(get(plan), get(reference)), ".3f") + "×")
                 for label, get, spec in _METRICS)
    return ReportTable(f"Against {reference.hardware} ({reference.execution} reference)",
                       ("", plan.hardware, reference.hardware, "ratio"), rows)


def reference_markdown(plan: Plan, reference: Plan) -> str:
    """The comparison as a report section."""
    table = reference_table(plan, reference)
    out = [f"## {table.title}", "", "| " + " | ".join(table.header) + " |", "|" + "---|" * len(table.header)]
    out += ["| " + " | ".join(row) + " |" for row in table.rows]
    out += ["", f"The same model at batch {reference.batch} planned on {reference.hardware} "
                f"({reference.solver.strategy}, {reference.solver.status}); ratios are {plan.hardware} / "
                f"{reference.hardware}.", ""]
    return "\n".join(out)


def reference_json(plan: Plan, reference: Plan) -> dict[str, Any]:
    """The reference's metrics and the plan's ratios to them, for ``--json``."""
    return {"hardware": reference.hardware, "execution": reference.execution, "status": reference.solver.status,
            "throughput": reference.throughput, "latency_ms": reference.latency_ms, "energy_mj": reference.energy_mj,
            "throughput_ratio": _ratio(plan.throughput, reference.throughput),
            "energy_ratio": _ratio(plan.energy_mj, reference.energy_mj)}


def reference_line(plan: Plan, reference: Plan) -> str:
    """One terminal line: the reference's figures and the plan's ratios to them."""
    info = reference_json(plan, reference)
    return (f"vs {reference.hardware} ({reference.execution}): {_cell(reference.throughput, '.2f')} inf/s, "
            f"{_cell(reference.energy_mj, '.4f')} mJ/inf -> throughput {_cell(info['throughput_ratio'], '.3f')}x, "
            f"energy {_cell(info['energy_ratio'], '.3f')}x")
