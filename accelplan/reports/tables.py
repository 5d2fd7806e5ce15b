"""What every report shows of a plan: its title and opening facts, and the accelerator (or cluster) table as the
plan's hardware family words it."""

from __future__ import annotations

from collections.abc import Sequence

from .. import families
from ..families import ReportTable, Words
from ..plan import AcceleratorPlan, Plan


def accelerator_table(plan: Plan) -> ReportTable:
    """Title, header and rows of the plan's accelerators (the family's :meth:`accelerator_table`)."""
    return families.get(plan.family).accelerator_table(plan)


def words(plan: Plan) -> Words:
    """How the plan's family names an accelerator and its units."""
    return families.get(plan.family).words


def model_note(plan: Plan) -> str:
    """The family's one-paragraph statement of the cost model behind the plan's figures."""
    return families.get(plan.family).model_note


def title(plan: Plan) -> str:
    """What a report is of: ``model on hardware``."""
    return f"{plan.model} on {plan.hardware}"


def headline(plan: Plan, *facts: str) -> str:
    """The line a terminal summary opens with: ``model on hardware | execution | facts...``."""
    return " | ".join([title(plan), plan.execution, *facts])


def _num(value: float | None, spec: str) -> str:
    return "—" if value is None else format(value, spec)


def plan_facts(plan: Plan, more: Sequence[tuple[str, object]] = ()) -> list[tuple[str, object]]:
    """The (label, value) rows a report opens with: execution model, objective, batch, throughput, latency, energy,
    pipeline period, then ``more``, then the bottleneck when the plan names one."""
    return [("execution model", plan.execution), ("objective", plan.objective), ("batch", plan.batch),
            ("throughput", f"{_num(plan.throughput, '.2f')} inferences/s"),
            ("latency (batch)", f"{_num(plan.latency_ms, '.4f')} ms"),
            ("energy", f"{_num(plan.energy_mj, '.4f')} mJ per inference"),
            ("pipeline period", f"{_num(plan.period_ms, '.4f')} ms"), *more,
            *([("bottleneck", plan.bottleneck)] if plan.bottleneck else [])]


def operator_list(acc: AcceleratorPlan) -> list[str]:
    """The accelerator's operators as its plan form's record lists them (clusters: each layer with its partition)."""
    return acc.operator_list()


def quantity(value: float, unit: str) -> str:
    """A budget figure as people read it: bytes in KiB, times in ms, counts as they are."""
    if unit == "B":
        return f"{value / 1024:.0f} KiB"
    if unit == "ms":
        return f"{value:.4f} ms"
    return f"{value:g}"
