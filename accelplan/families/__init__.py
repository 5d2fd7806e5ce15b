"""Hardware families as plug-ins, and the one registry that knows them.

A family is everything accelplan knows about one kind of target: the schema of its hardware
spec, the execution models it offers, how a study is tabulated into a :class:`~accelplan.problem.Problem`,
how a plan's groups become a :class:`~accelplan.plan.Plan`, the words and tables its reports use
and the deployment targets it can be emitted to. The contract is the abstract class
:class:`Family`, which gives the defaults.

The registry maps a family name to the module that defines it; the module is imported on first
use, so commands that load no hardware load no family. A new family is one module with a
``FAMILY`` object and one line in :data:`BUILT_IN` (or a call to :func:`register`).
"""

from __future__ import annotations

import abc
import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import SpecError, SpecIssue
from ..execution import ExecutionModel, Form, form_named
from ..objective import objective as lookup_objective

if TYPE_CHECKING:
    from pydantic import BaseModel

    from ..objective import Objective
    from ..plan import Plan
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


@dataclass(frozen=True)
class Family(abc.ABC):
    """The contract of a hardware family, with default behaviour where one exists.

    A family module subclasses it, implements the abstract methods (:meth:`dtypes`, :meth:`tabulate`) and
    creates its ``FAMILY`` object: a subclass missing one cannot be instantiated, so the plug-in fails when it
    is loaded, not when a command first calls it. Plans are built by the plan forms of its execution models
    (``problem.form.plan``), from its configurations' ``label``, ``units`` and, on pipelines, ``plan_fields()``.
    """

    name: str
    spec: type
    executions: tuple[ExecutionModel, ...]
    baseline_execution: str
    default_strategy: str = "auto"  # a strategy name, or auto: the exact strategy that covers the problem fastest
    emit_targets: tuple[str, ...] = ("json",)
    words: Words = Words()
    model_note: str = ""
    description: str = ""
    reference: str | None = None  # built-in hardware a study's plan is compared with unless it names its own
    #: how reports name the family's resources (budget rows): raw name -> words, e.g. ("ports_in", "PLIO input ports")
    resource_words: tuple[tuple[str, str], ...] = ()

    @property
    def default_execution(self) -> str:
        """The most general execution model (declared last)."""
        return self.executions[-1].name

    @abc.abstractmethod
    def dtypes(self, hw: Any) -> tuple[str, ...]:
        """The data types the hardware ``hw`` computes."""

    @abc.abstractmethod
    def tabulate(self, study: "Study", execution: ExecutionModel, objective: "Objective", prune: bool = True) -> "Problem":
        """The study's :class:`~accelplan.problem.Problem` under ``execution`` and ``objective`` (``prune``: drop
        configurations another dominates, where the family prunes)."""

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


#: the contract's name where a type is expected
HardwareFamily = Family


def register(family: Family) -> None:
    """Make ``family`` known under its name (a plug-in's one registry line); anything but a :class:`Family` is refused."""
    if not isinstance(family, Family):
        raise TypeError(f"{family!r} is not a Family (accelplan.families.Family)")
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
        register(importlib.import_module(BUILT_IN[name]).FAMILY)
    return _LOADED[name]


def every() -> list[HardwareFamily]:
    """Every known family, loaded."""
    return [get(n) for n in names()]


def plan_form(data: dict) -> Form:
    """The plan form of a plan file's data: its ``form``, or for a file written before plans named their form, the
    form of its family's execution model (``KeyError``/``SpecError`` when neither is known)."""
    if data.get("form"):
        return form_named(data["form"])
    return get(data["family"]).execution(data["execution"]).form


def build_problem(study: "Study", execution: str | None = None, objective: str | None = None,
                  prune: bool = True) -> Problem:
    """Tabulate the study under ``execution`` and ``objective`` (default: the study's own) by its hardware family.

    ``prune=False`` keeps configurations another one dominates (families that prune: versal-aie).
    """
    family = get(study.hardware.family)
    return family.tabulate(study, family.execution(execution or study.execution),
                           lookup_objective(objective or study.spec.objective), prune)
