"""The problem: a study reduced to tables of costs that formulations and strategies read.

Operators are grouped into *layers*: a GEMM-like operator (linear, matmul, attention part,
convolution) with the cheap element-wise operators that follow it fused as its epilogue (they
run on the same accelerator, priced by bandwidth). Each layer is priced on every candidate
accelerator configuration of the hardware's family (:meth:`HardwareFamily.tabulate`).

A Problem is immutable and built once per (study, execution model, objective): its tables may
depend on both (a chiplet package picks each layer's mapping by the objective). Only the
latency bound may vary without tabulating again (:meth:`Problem.with_latency_bound`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from .dominance import pareto_min
from .errors import SpecError, SpecIssue
from .execution import ExecutionModel
from .execution.devices import DeviceTables
from .execution.segments import SegmentTables
from .objective import Objective
from .specs.lowering import Elementwise, Gemm, lower

if TYPE_CHECKING:
    from .execution.form import PlanForm
    from .specs.study import Study


@dataclass(frozen=True)
class Layer:
    """A GEMM-like operator and its fused element-wise epilogue; the unit a plan assigns."""

    name: str
    ops: tuple[str, ...]
    gemm: Gemm
    ddr_bytes: float  # per input


@dataclass(frozen=True, eq=False)
class LayerBounds:
    """What sets each layer's time on each configuration, as the family's cost model prices it: the time of each
    term per input ``terms_s[l, c, t]`` (term ``t`` named ``names[t]``: "compute", "PLIO", "DDR", "launch", ...) and
    the term that sets the time, ``binds[l, c]`` (an index into ``names``). Recorded by the family's tabulation
    (:func:`binding_term`), copied into plans by their form (:class:`~accelplan.plan.LayerTime`)."""

    names: tuple[str, ...]
    terms_s: np.ndarray  # (L, C, T)
    binds: np.ndarray  # (L, C) int

    def kept(self, configs: "np.ndarray | list[int]") -> "LayerBounds":
        """The bounds of the configurations ``configs`` (indices, in the order kept)."""
        return LayerBounds(self.names, self.terms_s[:, configs], self.binds[:, configs])


def binding_term(terms: "tuple[float, ...] | list[float]", overlapped: int) -> int:
    """The term that sets a time ``max(terms[:overlapped]) + sum(terms[overlapped:])``: of the overlapped terms the
    largest, unless one of the added terms is larger than it (then that one); the first of equals."""
    best = max(range(overlapped), key=lambda t: terms[t]) if overlapped else 0
    for t in range(overlapped, len(terms)):
        if terms[t] > terms[best]:
            best = t
    return best


def binding_terms(terms_s: np.ndarray, overlapped: int) -> np.ndarray:
    """:func:`binding_term` of every ``terms_s[..., :]`` at once (an int array of the leading shape)."""
    if not overlapped:
        return np.argmax(terms_s, axis=-1)
    over = terms_s[..., :overlapped]
    contribution = np.concatenate([over.max(axis=-1, keepdims=True), terms_s[..., overlapped:]], axis=-1)
    pick = np.argmax(contribution, axis=-1)  # the first of equals: the overlapped max before an added term
    return np.where(pick == 0, np.argmax(over, axis=-1), pick + overlapped - 1)


@dataclass(frozen=True)
class Workload:
    """A language model served (the study's workload): prompt and generated tokens per request, KV-cache positions
    per sequence, sequences in flight (the problem's batch)."""

    prompt: int
    generate: int
    context: int
    sequences: int


@dataclass(frozen=True)
class LayerGroup:
    """A GEMM-like operator as lowered, with the operators fused into it and their element-wise work."""

    name: str
    ops: tuple[str, ...]
    gemm: Gemm
    epilogue: tuple[Elementwise, ...]


@dataclass(frozen=True, eq=False)
class Problem:
    """Everything a strategy needs, tabulated: no YAML, no hardware objects.

    ``time_s[l, c]`` and ``energy_j[l, c]`` are the per-input time and energy of layer ``l`` on
    configuration ``c``; ``usage[c, r]`` is what configuration ``c`` takes of resource ``r``
    (``resource_units[r]``: "B" for bytes, else ""). Configurations have a ``label``, ``units``
    and (pipeline form) ``plan_fields()``, the fields of their :class:`~accelplan.plan.AcceleratorPlan`.
    """

    name: str
    model: str
    hardware: str
    family: str
    dtype: str
    execution: ExecutionModel
    objective: Objective
    batch: int
    max_accelerators: int
    latency_max_s: float | None
    throughput_min: float | None
    layers: tuple[Layer, ...]
    configs: tuple[Any, ...]
    time_s: np.ndarray
    energy_j: np.ndarray
    resources: tuple[str, ...]
    usage: np.ndarray
    capacity: np.ndarray
    ddr_period_s: float
    static_power_w: float
    peak_macs_per_unit_s: float
    tables: Any = None  # the plan form's own tables (its ``tables`` type; None where the generic tables suffice)
    resource_units: tuple[str, ...] = ()
    # a served language model: per input is per generated token (throughput tokens/s, latency the time per output
    # token, energy per token), and ``prefill`` is the same model and menu priced on one prompt (its latency: TTFT)
    workload: Workload | None = None
    prefill: "Problem | None" = None
    # per layer and configuration the cost model's terms and the one that sets the time (None: the family names none)
    bounds: LayerBounds | None = None

    def __post_init__(self) -> None:
        if len(self.resource_units) != len(self.resources):
            object.__setattr__(self, "resource_units", ("",) * len(self.resources))
        expected = self.form.tables
        if expected is not None and not isinstance(self.tables, expected):
            raise TypeError(f"a {self.execution.form.label} problem needs its {expected.__name__}, "
                            f"not {type(self.tables).__name__}")

    @property
    def segments(self) -> SegmentTables | None:
        """The segment form's tables (None on other forms)."""
        return self.tables if isinstance(self.tables, SegmentTables) else None

    @property
    def devices(self) -> DeviceTables | None:
        """The devices form's tables (None on other forms)."""
        return self.tables if isinstance(self.tables, DeviceTables) else None

    @property
    def form(self) -> "PlanForm":
        """The plan form of its execution model: what prices, builds and replays its plans."""
        return self.execution.form.model

    @property
    def n_layers(self) -> int:
        return len(self.layers)

    @property
    def n_configs(self) -> int:
        return len(self.configs)

    @property
    def accelerator_slots(self) -> int:
        """Most accelerators (or clusters per segment, devices, replicas) a plan may use: its form's rule."""
        return self.form.slots(self)

    def with_latency_bound(self, latency_max_s: float | None) -> "Problem":
        """The same problem under another latency bound (no table depends on it)."""
        return replace(self, latency_max_s=latency_max_s)


def group_layers(study: "Study") -> list[LayerGroup]:
    """Fuse element-wise operators into the GEMM before them (leading ones into the first GEMM)."""
    groups: list[LayerGroup] = []
    pending: list[tuple[str, Elementwise]] = []
    for nop in study.model.ops:
        work = lower(nop.op)
        if isinstance(work, Gemm):
            groups.append(LayerGroup(nop.name, tuple(n for n, _ in pending) + (nop.name,), work,
                                     tuple(e for _, e in pending)))
            pending = []
        elif groups:
            last = groups[-1]
            groups[-1] = LayerGroup(last.name, last.ops + (nop.name,), last.gemm, last.epilogue + (work,))
        else:
            pending.append((nop.name, work))
    if not groups:
        raise SpecError(study.file or study.model.name, [SpecIssue(
            f"model {study.model.name!r} has no GEMM-like operator (linear, matmul, attention_qk/pv, conv2d) to plan", "model")])
    return groups


def prune_dominated(time_s: np.ndarray, energy_j: np.ndarray, usage: np.ndarray) -> np.ndarray:
    """Indices (in menu order) of configurations no other configuration beats or ties on every layer and resource.

    A configuration equal to an earlier one on every count is dropped too. Exact comparisons, in
    vectorised blocks (:func:`accelplan.dominance.pareto_min`), so menus of thousands prune in seconds.
    """
    keys = np.concatenate([time_s.T, energy_j.T, usage], axis=1)  # (C, L+L+R)
    return np.sort(pareto_min(keys))
