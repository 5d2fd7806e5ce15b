"""The accelerator (or cluster) table every report shows, as the plan's hardware family words it."""

from __future__ import annotations

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


def operator_list(acc: AcceleratorPlan) -> list[str]:
    """The accelerator's operators; with partitions, each layer with its partition (weight-shared x input-shared) and tile."""
    if not acc.partitions:
        return list(acc.ops)
    return [f"{name} (ws{gm}×is{gn}, tile {'x'.join(map(str, tile))})"
            for name, (gm, gn), tile in zip(acc.layers, acc.partitions, acc.layer_tiles)]


def quantity(value: float, unit: str) -> str:
    """A budget figure as people read it: bytes in KiB, times in ms, counts as they are."""
    if unit == "B":
        return f"{value / 1024:.0f} KiB"
    if unit == "ms":
        return f"{value:.4f} ms"
    return f"{value:g}"
