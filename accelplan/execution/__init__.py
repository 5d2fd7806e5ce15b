"""Execution models: how the accelerators of a plan share the layers, in space and in time.

A hardware family declares the execution models it offers as :class:`ExecutionModel` objects;
everything outside the family reads their properties (their :class:`Form` and rules), never
their names. A form is a registered object (:class:`Form` names it and the module that implements it;
the module's ``FORM`` follows the contract of :class:`~accelplan.execution.form.PlanForm`). The forms:

- :attr:`Form.PIPELINE` (:mod:`accelplan.execution.pipeline`): accelerators carved out of one
  device run their layers for every input, pipelined; a plan is a set of groups (configuration,
  layers), priced per input;
- :attr:`Form.SEGMENTS` (:mod:`accelplan.execution.segments`): the layer chain is cut into
  temporal segments run one after another, each a pipeline of clusters of consecutive layers;
  a plan is a set of groups (configuration, layers, segment), priced per batch;
- :attr:`Form.DEVICES` (:mod:`accelplan.execution.devices`): the layer chain is cut into runs, one
  per device of a chain of devices; on its device each layer is its own block with its own
  configuration (parallelism, where its weights live); a plan is a set of groups (device position,
  layers, configuration per layer), priced per input;
- :attr:`Form.REPLICATED` (:mod:`accelplan.execution.replicated`): data-parallel replicas, k identical
  accelerators each running the whole model on its own inputs; a plan is one group (configuration,
  replicas), priced per input.

A new form is a module with a ``FORM`` object and one member of :class:`Form`; strategies that solve it
name an implementation for it (:mod:`accelplan.solvers.registry`).
"""

from __future__ import annotations

import enum
import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .form import PlanForm


SAME_INSTANT_S = 1e-12  # schedules: events closer than a picosecond are one instant (float sums differ in the last bits)


class Form(enum.Enum):
    """The registry of plan forms: each member's value is the module holding its ``FORM`` (loaded on first use)."""

    PIPELINE = "accelplan.execution.pipeline"
    SEGMENTS = "accelplan.execution.segments"
    DEVICES = "accelplan.execution.devices"
    REPLICATED = "accelplan.execution.replicated"

    @property
    def label(self) -> str:
        """The form's name as users read it (pipeline, segments, ...)."""
        return self.name.lower()

    @property
    def model(self) -> "PlanForm":
        """The form's implementation (its module's ``FORM``)."""
        return load_form(self)


_LOADED: dict[Form, "PlanForm"] = {}


def form_named(label: str) -> Form:
    """The form called ``label`` (pipeline, segments, ...); a ``KeyError`` names the valid ones."""
    for form in Form:
        if form.label == label:
            return form
    raise KeyError(f"unknown plan form {label!r}; valid: {', '.join(f.label for f in Form)}")


def load_form(form: Form) -> "PlanForm":
    """The ``FORM`` of ``form``'s module, checked against :class:`~accelplan.execution.form.PlanForm` once."""
    if form not in _LOADED:
        from .form import PlanForm
        impl = importlib.import_module(form.value).FORM
        if not isinstance(impl, PlanForm):
            raise TypeError(f"{form.value}.FORM is not a PlanForm")
        _LOADED[form] = impl
    return _LOADED[form]


@dataclass(frozen=True)
class ExecutionModel:
    """One execution model of a family: its name, its form and the rules its groups obey.

    - ``single``: one group (pipeline: one accelerator runs every layer; segments: every cluster
      holds the whole package, so each segment is one cluster);
    - ``contiguous``: each group runs consecutive layers (always true of segments);
    - ``one_layer``: each group runs exactly one layer (segments: a segmented pipeline).
    """

    name: str
    form: Form
    description: str
    single: bool = False
    contiguous: bool = True
    one_layer: bool = False

    def __str__(self) -> str:
        return self.name


@dataclass(frozen=True)
class Metrics:
    """The numbers behind a plan, in seconds and joules (per input), and what it violates."""

    busy_s: tuple[float, ...]
    period_s: float
    latency_s: float
    energy_j: float
    violations: tuple[str, ...]
    stage_s: float | None = None  # the slowest stage's time per input where the period is more (None: the period)
    # a plan whose latency is its schedule's (pipeline: an input returns to an accelerator it has left): the closed
    # form the exact formulations price, beside it (None: the latency is the closed form)
    closed_form_s: float | None = None

    @property
    def throughput(self) -> float:
        return 1.0 / self.period_s if self.period_s > 0 else float("inf")

    def objective_value(self, objective: object) -> float:
        """Value in user units: inferences/s, ms or mJ (``objective``: an Objective or its name)."""
        from ..objective import objective as lookup
        return lookup(objective).pick(self.throughput, self.latency_s * 1e3, self.energy_j * 1e3)


def bound_violations(problem: object, latency_s: float, period_s: float) -> list[str]:
    """The study's latency bound and throughput floor, checked against a plan's latency and period."""
    out = []
    latency_max, throughput_min = problem.latency_max_s, problem.throughput_min  # type: ignore[attr-defined]
    if latency_max is not None and latency_s > latency_max * (1 + 1e-9):
        out.append(f"latency {latency_s * 1e3:.4f} ms exceeds latency_max_ms {latency_max * 1e3:g}")
    if throughput_min is not None and period_s * throughput_min > 1 + 1e-9:
        out.append(f"throughput {1 / period_s:.2f}/s below throughput_min {throughput_min:g}")
    return out
