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


def fmt(value: float | None, spec: str) -> str:
    """``value`` formatted by ``spec``, or "—" when there is none."""
    return _num(value, spec)


def study_bounds(plan: Plan) -> str:
    """The study's latency bound and throughput floor against the plan's figures, in a sentence ("" when none)."""
    parts = []
    if plan.latency_max_ms is not None:
        met = plan.latency_ms is not None and plan.latency_ms <= plan.latency_max_ms * (1 + 1e-9)
        parts.append(f"latency bound {plan.latency_max_ms:.4g} ms ({'met' if met else 'missed'}: "
                     f"{_num(plan.latency_ms, '.4f')} ms)")
    if plan.throughput_min is not None:
        met = plan.throughput is not None and plan.throughput >= plan.throughput_min * (1 - 1e-9)
        parts.append(f"throughput floor {plan.throughput_min:,.4g} inferences/s ({'met' if met else 'missed'}: "
                     f"{_num(plan.throughput, ',.2f')})")
    return ("The study asks for a " + " and a ".join(parts) + ".") if parts else ""


def plan_facts(plan: Plan, more: Sequence[tuple[str, object]] = ()) -> list[tuple[str, object]]:
    """The (label, value) rows a report opens with: execution model, objective, batch, throughput, latency, energy,
    pipeline period, the study's bounds, then ``more``, then the bottleneck when the plan names one."""
    bounds = ([("latency bound (study)", f"{plan.latency_max_ms:.4g} ms")] if plan.latency_max_ms is not None else []) \
        + ([("throughput floor (study)", f"{plan.throughput_min:,.4g} inferences/s")]
           if plan.throughput_min is not None else [])
    return [("execution model", plan.execution), ("objective", plan.objective), ("batch", plan.batch),
            ("throughput", f"{_num(plan.throughput, '.2f')} inferences/s"),
            ("latency (batch)", f"{_num(plan.latency_ms, '.4f')} ms"),
            ("energy", f"{_num(plan.energy_mj, '.4f')} mJ per inference"),
            ("pipeline period", f"{_num(plan.period_ms, '.4f')} ms"), *bounds, *more,
            *([("bottleneck", plan.bottleneck)] if plan.bottleneck else [])]


def operator_list(acc: AcceleratorPlan) -> list[str]:
    """The accelerator's operators as its plan form's record lists them (clusters: each layer with its partition)."""
    return acc.operator_list()


def quantity(value: float, unit: str) -> str:
    """A budget figure as people read it: bytes in KiB (MiB from 10 MiB on), times in ms, counts with thousands
    separators (1,296,000; never 1.296e+06)."""
    if unit == "B":
        return f"{value / 2**20:,.1f} MiB" if value >= 10 * 2**20 else f"{value / 1024:,.0f} KiB"
    if unit == "ms":
        return f"{value:.4f} ms"
    if float(value).is_integer():
        return f"{value:,.0f}"
    return f"{value:,.2f}" if abs(value) >= 1 else f"{value:.4g}"


def resource_name(plan: Plan, name: str) -> str:
    """A budget's resource in its family's words (``resource_words``: ``ports_in`` -> "PLIO input ports"), also after a
    "device 0: " prefix; a raw name the family does not word has its underscores as spaces."""
    named = dict(families.get(plan.family).resource_words)
    prefix, _, raw = name.rpartition(": ")
    word = named.get(raw, raw.replace("_", " "))
    return f"{prefix}: {word}" if prefix else word


def budget_rows(plan: Plan) -> list[tuple[str, str, str]]:
    """(resource in words, used, available) per budget of the plan."""
    return [(resource_name(plan, b.name), quantity(b.used, b.unit), quantity(b.available, b.unit)) for b in plan.budgets]
