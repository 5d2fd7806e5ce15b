"""Objectives: what a plan is judged by, in which direction, in which units.

Every strategy, report and comparison asks an :class:`Objective` rather than the objective's name:
whether a value beats another, the gap between a value and a proven bound, and which metric of a
plan it reads. Three are declared: ``throughput`` (inferences/s, maximised), ``latency`` (ms of
one batch, minimised) and ``energy`` (mJ per inference, minimised).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, eq=False)
class Objective:
    """One objective: its name, whether larger is better, and its unit.

    An objective equals another with the same name and equals its own name as a string, so
    ``problem.objective == "energy"`` reads as it says.
    """

    name: str
    maximise: bool
    unit: str
    description: str

    def better(self, a: float, b: float) -> bool:
        """True when value ``a`` strictly beats ``b``."""
        return a > b if self.maximise else a < b

    def gap(self, value: float | None, bound: float | None) -> float | None:
        """Relative gap |value - bound| / |value| of a plan's value to a proven bound (0: proven optimal)."""
        if value is None or bound is None:
            return None
        if value == 0:
            return 0.0 if bound == 0 else float("inf")
        return max(0.0, (bound - value) if self.maximise else (value - bound)) / abs(value)

    def pick(self, throughput: float | None, latency_ms: float | None, energy_mj: float | None) -> float | None:
        """This objective's metric among a plan's three (inferences/s, ms, mJ)."""
        return {"throughput": throughput, "latency": latency_ms, "energy": energy_mj}[self.name]

    def from_batch(self, batch: int, value: float | None) -> float | None:
        """A per-batch value (seconds; joules for energy) in this objective's units."""
        if value is None:
            return None
        value = float(value)
        return self.pick(batch / value if value > 0 else float("inf"), value * 1e3, value / batch * 1e3)

    def __str__(self) -> str:
        return self.name

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Objective):
            return other.name == self.name
        return isinstance(other, str) and other == self.name

    def __hash__(self) -> int:
        return hash(self.name)


OBJECTIVES: dict[str, Objective] = {o.name: o for o in (
    Objective("throughput", True, "inferences/s", "inferences per second in steady state"),
    Objective("latency", False, "ms", "time to finish one batch"),
    Objective("energy", False, "mJ", "energy per inference"),
)}


def objective(name: str | Objective) -> Objective:
    """The declared objective called ``name`` (an :class:`Objective` is returned as it is)."""
    if isinstance(name, Objective):
        return name
    try:
        return OBJECTIVES[name]
    except KeyError:
        raise ValueError(f"unknown objective {name!r}; valid: {', '.join(OBJECTIVES)}") from None
