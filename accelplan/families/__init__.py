"""Hardware families as plug-ins, and the one registry that knows them.

A family is everything accelplan knows about one kind of target: the schema of its hardware
spec, the execution models it offers, how a study is tabulated into a :class:`~accelplan.problem.Problem`,
how a plan's groups become a :class:`~accelplan.plan.Plan`, the words and tables its reports use
and the deployment targets it can be emitted to. The contract is :class:`HardwareFamily`;
:class:`Family` gives its defaults.

The registry maps a family name to the module that defines it; the module is imported on first
use, so commands that load no hardware load no family. A new family is one module with a
``FAMILY`` object and one line in :data:`BUILT_IN` (or a call to :func:`register`).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from ..errors import SpecError, SpecIssue
from ..execution import ExecutionModel

if TYPE_CHECKING:
    from pydantic import BaseModel

    from ..objective import Objective
    from ..plan import Plan, SolverFacts
    from ..problem import Problem
    from ..specs.study import Study

#: family name -> module holding its ``FAMILY``
BUILT_IN: dict[str, str] = {
    "versal-aie": "accelplan.families.versal_aie",
    "mcm": "accelplan.families.mcm",
    "multi-device": "accelplan.families.multi_device",
    "gpu": "accelplan.families.gpu",
}

_LOADED: dict[str, "HardwareFamily"] = {}


@dataclass(frozen=True)
class Words:
    """How reports name a family's parts: an accelerator (or cluster) and its units (or chiplets)."""

    accelerator: str = "accelerator"
    accelerators: str = "accelerators"
    units: str = "units"


@dataclass(frozen=True)
class HardwareCost:
    """What a hardware costs, as its family counts it (e.g. AI Engines, chiplets, devices): what sweeps weigh
    against throughput."""

    name: str
    value: float


@dataclass(frozen=True)
class ReportTable:
    """A table a family adds to reports: a title, a header and rows of printable cells."""

    title: str
    header: tuple[str, ...]
    rows: tuple[tuple[Any, ...], ...]


class HardwareFamily(Protocol):
    """What a hardware family provides (see :class:`Family` for the defaults)."""

    name: str
    spec: type["BaseModel"]
    executions: tuple[ExecutionModel, ...]
    default_execution: str
    baseline_execution: str
    default_strategy: str
    emit_targets: tuple[str, ...]
    words: Words
    model_note: str
    reference: str | None

    def check(self, hw: Any, lines: dict) -> list[SpecIssue]: ...
    def dtypes(self, hw: Any) -> tuple[str, ...]: ...
    def tabulate(self, study: "Study", execution: ExecutionModel, objective: "Objective") -> "Problem": ...
    def evaluate(self, problem: "Problem", groups: tuple, solver: "SolverFacts | None", check_bounds: bool) -> "Plan": ...
    def accelerator_table(self, plan: "Plan") -> ReportTable: ...
    def execution(self, name: str | None) -> ExecutionModel: ...
    def hardware_cost(self, problem: "Problem") -> HardwareCost | None: ...
    def calibration(self) -> Any: ...


@dataclass(frozen=True)
class Family:
    """A hardware family with default behaviour; a family module subclasses it and sets its fields."""

    name: str
    spec: type
    executions: tuple[ExecutionModel, ...]
    default_strategy: str
    baseline_execution: str
    emit_targets: tuple[str, ...] = ("json",)
    words: Words = Words()
    model_note: str = ""
    description: str = ""
    reference: str | None = None  # built-in hardware a study's plan is compared with unless it names its own

    @property
    def default_execution(self) -> str:
        """The most general execution model (declared last)."""
        return self.executions[-1].name

    def execution(self, name: str | None) -> ExecutionModel:
        """The execution model called ``name`` (None: the default); an error names the valid ones."""
        name = name or self.default_execution
        for model in self.executions:
            if model.name == name:
                return model
        raise SpecError("<execution>", [SpecIssue(
            f"execution {name!r} does not apply to family {self.name}; valid: {self.execution_names()}", "execution")])

    def execution_names(self) -> str:
        return ", ".join(m.name for m in self.executions)

    def check(self, hw: Any, lines: dict) -> list[SpecIssue]:
        """Issues the schema cannot see (cross-field checks); none by default."""
        return []

    def calibration(self) -> Any:
        """What ``accelplan calibrate`` fits on this family and how it predicts a measured row (a module with the
        contract of :mod:`accelplan.families.versal_aie.calibration`), or None when the family has none."""
        return None

    def hardware_cost(self, problem: "Problem") -> HardwareCost | None:
        """The capacity of the problem's first resource, the units every configuration draws on (AI Engines,
        chiplets, GPUs); None when it has no resource."""
        if not len(problem.resources):
            return None
        return HardwareCost(problem.resources[0], float(problem.capacity[0]))

    def accelerator_table(self, plan: "Plan") -> ReportTable:
        """Per accelerator: configuration, units, layers, busy time, utilisation, MAC efficiency."""
        header = ("#", "configuration", self.words.units, "layers", "busy ms", "utilisation", "MAC efficiency")
        rows = tuple((a.index, a.config, a.units, len(a.layers), f"{a.busy_ms:.4f}", f"{a.utilization:.1%}",
                      f"{a.mac_efficiency:.1%}") for a in plan.accelerators)
        return ReportTable(self.words.accelerators.capitalize(), header, rows)


def register(family: HardwareFamily) -> None:
    """Make ``family`` known under its name (a plug-in's one registry line)."""
    _LOADED[family.name] = family


def unregister(name: str) -> None:
    """Forget a family added by :func:`register` (a plug-in loaded for a while, e.g. in a test)."""
    if name not in BUILT_IN:
        _LOADED.pop(name, None)


def names() -> list[str]:
    """Names of every known family (built-in and registered)."""
    return list(dict.fromkeys([*BUILT_IN, *_LOADED]))


def get(name: str) -> HardwareFamily:
    """The family called ``name``; an unknown name is a :class:`SpecError` listing the known ones."""
    if name not in _LOADED:
        if not isinstance(name, str) or name not in BUILT_IN:
            raise SpecError("<family>", [SpecIssue(f"unknown hardware family {name!r}; valid: {', '.join(names())}",
                                                   "family")])
        _LOADED[name] = importlib.import_module(BUILT_IN[name]).FAMILY
    return _LOADED[name]


def every() -> list[HardwareFamily]:
    """Every known family, loaded."""
    return [get(n) for n in names()]
