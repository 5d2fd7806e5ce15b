"""Co-design specs: a base study, the hardware parameters to search (dotted paths, as sweeps name them), the
objectives and limits, checked with the file's lines.

A co-design file::

    name: bert-base on Versal variants
    study: ../studies/bert-base_vck190.yaml   # the base study (or model + hardware and any study field)
    execution: spatial
    time_limit_s: 20          # each trial's exact solve (strategy: auto unless given)
    trials: 120               # finished trials of the study (a resumed run runs only the rest)
    space:
      hardware:               # a field of the hardware spec by dotted path, as in sweeps
        aie.units: {low: 50, high: 400, step: 50}       # an integer (or float) range, step and log optional
        plio.ports_in: [32, 64, 100, 128]               # a list: choices
        pl.buffer: ["8 MiB", "20 MiB", "32 MiB"]
        link:                                           # labelled choices; {from_hardware: NAME} takes the same
          choices: {qsfp28: {from_hardware: u250-x32}, pcie: {from_hardware: u250-x4-pcie}}   # field of that file
      dtype: [int8, int16, fp32]                        # the data type the model is deployed in
    objectives:               # one (TPE or GP) or several (NSGA-II; NSGA-III from 3): metric and direction
      - throughput            # a metric alone: its natural direction
      - {metric: cost, direction: minimize}
    cost:                     # the `cost` metric: a sum over parameters, of weight x value or a table per choice
      aie.units: 1
      pl.buffer: {"8 MiB": 8, "20 MiB": 20, "32 MiB": 32}
    limits: {power_w: {max: 60}}    # a trial outside them is infeasible (Optuna constraints)

Every value of every parameter is set alone on the base hardware and checked against the family's schema when the
file is read: a bad path or value is a :class:`~accelplan.errors.SpecError` naming the file, its line and the field
(e.g. ``space.hardware.aie.units.high``). A combination the family refuses (its ``check``) is a trial's outcome,
infeasible, not an error.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, model_validator

from .. import families
from ..errors import SpecError, SpecIssue
from ..plan_file import RunFacts
from ..solvers.registry import AUTO
from ..specs.library import builtin_names
from ..specs.loader import Lines, line_of, read_yaml, validate
from ..specs.schema import MAX_SEED, Constraints, Dim, Objective, Strict, StudySpec
from ..specs.study import Study, resolve
from ..sweep.cache import point_key
# the sweep's reading of a base study and of hardware fields by dotted path (one implementation for both commands)
from ..sweep.spec import HardwarePath, Strategy, _base, _check_hardware_path, _get, _hardware, _set, _Setting

MAX_TRIALS = 100_000
MAX_CHOICES = 1_000

#: metric -> (natural direction, what it is); ``bound`` metrics are those a trial's proven bound speaks of
METRICS: dict[str, tuple[str, str]] = {
    "throughput": ("maximize", "inferences/s (tokens/s for a served language model)"),
    "tokens_per_s": ("maximize", "tokens/s of a served language model (its throughput)"),
    "latency_ms": ("minimize", "ms of one batch (TPOT of a served language model)"),
    "energy_mj": ("minimize", "mJ per inference"),
    "power_w": ("minimize", "W: energy per inference x inferences per second"),
    "ttft_ms": ("minimize", "time to first token of a served language model"),
    "joules_per_token": ("minimize", "J per generated token of a served language model"),
    "hardware_cost": ("minimize", "what the family counts (AI Engines, chiplets, devices)"),
    "cost": ("minimize", "the spec's cost: a sum over parameters of weight x value, or a table per choice"),
}
#: a metric -> the study objective whose proven bound bounds it (same units)
BOUNDED = {"throughput": "throughput", "tokens_per_s": "throughput", "latency_ms": "latency", "energy_mj": "energy"}
Metric = Literal[tuple(METRICS)]  # type: ignore[valid-type]
SAMPLERS = ("auto", "tpe", "gp", "random", "nsga2", "nsga3")

Number = Annotated[float, Field(allow_inf_nan=False)]


class Range(Strict):
    """Numbers from ``low`` to ``high``: integers when both ends (and the step) are, else floats."""

    low: Number
    high: Number
    step: Annotated[float, Field(gt=0, allow_inf_nan=False)] | None = None
    log: bool = False

    @model_validator(mode="after")
    def _ordered(self) -> "Range":
        if self.low > self.high:
            raise ValueError(f"low ({self.low:g}) is above high ({self.high:g})")
        if self.log and self.low <= 0:
            raise ValueError("a log range needs low > 0")
        if self.log and self.step is not None:
            raise ValueError("give step or log, not both")
        return self


class FromHardware(Strict):
    """The same field of another hardware file (a built-in name or a path relative to this file)."""

    from_hardware: str = Field(min_length=1)


class Choices(Strict):
    """Labelled choices (label -> value, a value may be ``{from_hardware: NAME}``) or a list of values."""

    choices: Annotated[dict[str, Any], Field(min_length=1, max_length=MAX_CHOICES)] | \
        Annotated[list[Any], Field(min_length=1, max_length=MAX_CHOICES)]


Values = Annotated[list[Any], Field(min_length=1, max_length=MAX_CHOICES)]
DtypeValues = Annotated[list[Annotated[str, Field(min_length=1)]], Field(min_length=1, max_length=16)]


class Space(Strict):
    """What the search may change: hardware fields by dotted path, and the model's data type."""

    hardware: dict[HardwarePath, Range | Choices | Values] = Field(
        default_factory=dict, description="hardware field (dotted path) -> a range {low, high, step?, log?}, a list "
                                          "of values, or {choices: {label: value}}")
    dtype: DtypeValues | None = Field(None, description="data types the model may be deployed in")

    @model_validator(mode="after")
    def _some(self) -> "Space":
        if not self.hardware and not self.dtype:
            raise ValueError("give at least one parameter: hardware: {aie.units: {low: 50, high: 400}} or dtype: [...]")
        return self


class ObjectiveSpec(Strict):
    metric: Metric
    direction: Literal["maximize", "minimize"] | None = Field(None, description="default: the metric's natural one")


class Limit(Strict):
    min: Number | None = None
    max: Number | None = None

    @model_validator(mode="after")
    def _one(self) -> "Limit":
        if self.min is None and self.max is None:
            raise ValueError("give min and/or max")
        return self


class CodesignSpec(Strict):
    """A hardware co-design study: a base study, a search space, objectives and limits."""

    name: str | None = None
    study: str | None = Field(None, min_length=1, description="base study file, relative to this file")
    model: str | None = Field(None, min_length=1)
    hardware: str | None = Field(None, min_length=1, description="built-in hardware name or path relative to this file")
    execution: str | None = Field(None, min_length=1)
    objective: Objective | None = Field(None, description="what each trial's exact solve optimises (the study's)")
    constraints: Constraints | None = None
    strategy: Strategy | None = Field(None, description="each trial's strategy (default: auto, the fastest exact one)")
    time_limit_s: Annotated[float, Field(gt=0, le=7 * 86400, allow_inf_nan=False)] | None = Field(
        None, description="wall-clock limit of each trial's solve (s)")
    seed: Annotated[int, Field(ge=0, le=MAX_SEED, strict=True)] | None = None
    model_dims: dict[str, Dim] | None = None
    space: Space
    objectives: Annotated[list[Metric | ObjectiveSpec], Field(min_length=1, max_length=4)]
    cost: dict[HardwarePath, Number | dict[str, Number]] | None = Field(
        None, description="the `cost` metric: parameter -> weight (x its value) or {choice: cost}")
    limits: dict[Metric, Limit] | None = None
    trials: Annotated[int, Field(strict=True, gt=0, le=MAX_TRIALS)] = Field(
        100, description="finished trials of the study (complete or pruned); a resumed run runs the rest")
    sampler: Literal[SAMPLERS] = Field("auto", description="auto: TPE for one objective, NSGA-II for 2-3, "  # type: ignore[valid-type]
                                                             "NSGA-III for 4")
    prune: bool = Field(True, description="skip a candidate whose bound (a larger candidate's) already loses")
    more: dict[HardwarePath, Literal["larger", "smaller", "neither"]] = Field(
        default_factory=dict, description="which values of a numeric parameter are more hardware (a plan of less runs "
                                          "on more), for pruning; default: larger (e.g. overhead_cycles: smaller)")

    @model_validator(mode="after")
    def _complete(self) -> "CodesignSpec":
        if self.study is None and (self.model is None or self.hardware is None):
            raise ValueError("give a base study: `study: FILE`, or `model` and `hardware`")
        return self


@dataclass(frozen=True)
class Parameter:
    """One searched parameter: its name (``hardware.aie.units``, ``dtype``), where the file writes it, and its
    values (a range, or choices: label -> value)."""

    name: str
    field: str
    line: int | None
    low: float | None = None
    high: float | None = None
    step: float | None = None
    log: bool = False
    integer: bool = False
    choices: tuple[tuple[str, Any], ...] = ()  # (label, value)
    more: str = "larger"  # which values are more hardware: larger, smaller, neither (compared only when equal)

    @property
    def path(self) -> str:
        """The dotted hardware path (empty for ``dtype``)."""
        return self.name[len("hardware."):] if self.name.startswith("hardware.") else ""

    @property
    def ordered(self) -> bool:
        """A range, or choices that are all numbers (:func:`dominates` compares them as ``more`` says)."""
        return not self.choices or all(_number(v) is not None for _, v in self.choices)

    def value(self, sampled: Any) -> Any:
        """The value to set for what Optuna sampled (a label for choices)."""
        if not self.choices:
            return int(sampled) if self.integer else float(sampled)
        return dict(self.choices)[sampled]

    def grid(self) -> list[Any]:
        """Every value Optuna may sample (a range with a step, or choices); None for a continuous range."""
        if self.choices:
            return [label for label, _ in self.choices]
        if self.step is None and not self.integer:
            raise ValueError(f"{self.name} is a continuous range: give it a step to enumerate it")
        step = self.step or 1
        n = int(math.floor((self.high - self.low) / step + 1e-9)) + 1
        values = [self.low + i * step for i in range(n)]
        return [int(round(v)) if self.integer else v for v in values]


@dataclass(frozen=True)
class Goal:
    metric: str
    maximize: bool

    @property
    def direction(self) -> str:
        return "maximize" if self.maximize else "minimize"


@dataclass(frozen=True)
class Codesign:
    """A loaded co-design study."""

    name: str
    file: str
    base: Any  # the sweep's _Base: the base study and the hardware file's data
    parameters: tuple[Parameter, ...]
    goals: tuple[Goal, ...]
    limits: dict[str, tuple[float | None, float | None]]
    cost: dict[str, float | dict[str, float]]
    trials: int
    sampler: str
    prune: bool
    strategy: str
    time_limit_s: float
    seed: int

    @property
    def study(self) -> Study:
        return self.base.study

    @property
    def family(self) -> str:
        return self.base.study.hardware.family


@dataclass(frozen=True)
class Candidate:
    """One hardware candidate: its study (fully loaded), cache key, run facts and the hardware file's data."""

    values: dict[str, Any]  # parameter name -> what Optuna sampled (a label for choices)
    study: Study
    key: str
    run: RunFacts
    hardware_data: dict[str, Any]


def codesign_schema() -> dict[str, Any]:
    """JSON Schema of a co-design spec."""
    from pydantic import TypeAdapter

    return TypeAdapter(CodesignSpec).json_schema()


def load_codesign(path: Path) -> Codesign:
    """Read and check a co-design file: its base study loaded, every parameter value checked alone on it."""
    file = str(path)
    data, lines = read_yaml(path)
    spec = validate(CodesignSpec, data, lines, file)
    base = _base(spec, lines, file, path.parent)
    issues: list[SpecIssue] = []
    parameters = []
    for p, given in spec.space.hardware.items():
        field, line = f"space.hardware.{p}", line_of(("space", "hardware", p), lines)
        try:
            _check_hardware_path(base, p, field, line)
            parameters.append(_parameter(f"hardware.{p}", given, field, lines, path.parent, base, file))
        except SpecError as exc:
            issues += exc.issues
    if spec.space.dtype:
        parameters.append(Parameter("dtype", "space.dtype", line_of(("space", "dtype"), lines),
                                    choices=tuple((d, d) for d in spec.space.dtype)))
    for p, more in spec.more.items():
        found = next((i for i, q in enumerate(parameters) if q.path == p), None)
        if found is None or not parameters[found].ordered:
            issues.append(SpecIssue(f"{p!r} is not a numeric parameter of the space", f"more.{p}",
                                    line_of(("more", p), lines)))
        else:
            parameters[found] = replace(parameters[found], more=more)
    if issues:
        raise SpecError(file, issues)
    for parameter in parameters:
        _check_values(base, parameter, lines, file)
    goals = tuple(Goal(o, METRICS[o][0] == "maximize") if isinstance(o, str) else
                  Goal(o.metric, (o.direction or METRICS[o.metric][0]) == "maximize") for o in spec.objectives)
    if len({g.metric for g in goals}) < len(goals):
        raise SpecError(file, [SpecIssue("a metric is named twice", "objectives", line_of(("objectives",), lines))])
    cost = dict(spec.cost or {})
    _check_cost(cost, parameters, goals, spec, lines, file)
    if spec.sampler == "gp" and len(goals) > 1:
        raise SpecError(file, [SpecIssue("the GP sampler takes one objective; for several use nsga2 or nsga3 (or auto)",
                                         "sampler", line_of(("sampler",), lines))])
    study = base.study
    return Codesign(spec.name or path.stem, file, base, tuple(parameters), goals,
                    {m: (lim.min, lim.max) for m, lim in (spec.limits or {}).items()}, cost, spec.trials,
                    spec.sampler, spec.prune, spec.strategy or AUTO, study.spec.time_limit_s, study.spec.seed)


def _parameter(name: str, given: Any, field: str, lines: Lines, folder: Path, base: Any, file: str) -> Parameter:
    line = line_of(tuple(["space", "hardware", name[len("hardware."):]]), lines)
    if isinstance(given, Range):
        integer = all(float(v).is_integer() for v in (given.low, given.high, given.step or 1))
        return Parameter(name, field, line, given.low, given.high, given.step, given.log, integer)
    raw = given.choices if isinstance(given, Choices) else given
    if isinstance(raw, dict):
        choices = []
        for label, value in raw.items():
            if isinstance(value, dict) and set(value) == {"from_hardware"}:
                value = _from_hardware(value["from_hardware"], name[len("hardware."):], folder, file,
                                       f"{field}.choices.{label}", line_of(("space", "hardware", name[9:], "choices",
                                                                            label), lines))
            choices.append((str(label), value))
    else:
        choices = [(_label(v), v) for v in raw]
    labels = [label for label, _ in choices]
    if len(set(labels)) < len(labels):
        dup = next(lab for lab in labels if labels.count(lab) > 1)
        raise SpecError(file, [SpecIssue(f"the choice {dup!r} is listed twice", field, line)])
    return Parameter(name, field, line, choices=tuple(choices))


def _label(value: Any) -> str:
    """A choice's label: the value as YAML writes it (Optuna's categorical values are these labels)."""
    return str(value).lower() if isinstance(value, bool) else str(value)


def _from_hardware(ref: str, path: str, folder: Path, file: str, field: str, line: int | None) -> Any:
    """The field at ``path`` of the hardware file ``ref``."""
    found = resolve(ref, "hardware", folder)
    if found is None or not found.is_file():
        what = (f"no built-in hardware named {ref!r}; built-in: {', '.join(builtin_names('hardware'))}"
                if found is None else f"file {str(found)!r} not found")
        raise SpecError(file, [SpecIssue(what, field, line)])
    data, _ = read_yaml(found)
    value = _get(data, path.split("."))
    if value is None:
        raise SpecError(file, [SpecIssue(f"hardware {ref!r} has no field {path}", field, line)])
    return copy.deepcopy(value)


def _check_values(base: Any, parameter: Parameter, lines: Lines, file: str) -> None:
    """Every choice (a range: both ends) set alone on the base hardware must pass its family's schema."""
    if parameter.name == "dtype":
        family = families.get(base.study.hardware.family)
        runs = family.dtypes(base.study.hardware)
        bad = [d for _, d in parameter.choices if d not in runs]
        if bad:
            raise SpecError(file, [SpecIssue(f"{', '.join(map(repr, bad))}: hardware {base.study.hardware.name!r} does "
                                             f"not run it (it runs: {', '.join(runs)})", parameter.field,
                                             parameter.line)])
        return
    if parameter.choices:
        values = [(f"{parameter.field}[{i}]" if parameter.choices[i][0] == _label(v) else
                   f"{parameter.field}.choices.{label}", v) for i, (label, v) in enumerate(parameter.choices)]
    else:
        cast = int if parameter.integer else float
        values = [(f"{parameter.field}.low", cast(parameter.low)), (f"{parameter.field}.high", cast(parameter.high))]
    family = families.get(base.study.hardware.family)
    for field, value in values:
        data = copy.deepcopy(base.hardware_data)
        _set(data, parameter.path.split("."), value)
        try:
            validate(family.spec, data, {}, file)
        except SpecError as exc:  # the schema's refusal; the family's check of a combination is a trial's outcome
            raise SpecError(file, [SpecIssue(f"{parameter.path} = {value!r}: hardware field {i.field or '(spec)'}: "
                                             f"{i.message}", field, parameter.line) for i in exc.issues]) from None


def _check_cost(cost: dict[str, Any], parameters: list[Parameter], goals: tuple[Goal, ...], spec: CodesignSpec,
                lines: Lines, file: str) -> None:
    named = {p.path: p for p in parameters if p.path}
    issues = []
    for path, weight in cost.items():
        field, line = f"cost.{path}", line_of(("cost", path), lines)
        p = named.get(path)
        if p is None:
            issues.append(SpecIssue(f"{path!r} is not a searched parameter (searched: {', '.join(named) or 'none'})",
                                    field, line))
        elif isinstance(weight, dict):
            missing = [label for label, _ in (p.choices or ()) if label not in weight]
            if not p.choices:
                issues.append(SpecIssue("a range takes a weight (cost = weight x value), not a table", field, line))
            elif missing or set(weight) - {label for label, _ in p.choices}:
                issues.append(SpecIssue(f"give a cost for each choice and only those: {', '.join(lab for lab, _ in p.choices)}"
                                        + (f" (missing: {', '.join(missing)})" if missing else ""), field, line))
        elif not p.ordered:
            issues.append(SpecIssue("the choices are not numbers: give a table {choice: cost}", field, line))
    if any(g.metric == "cost" for g in goals) or "cost" in (spec.limits or {}):
        if not cost:
            issues.append(SpecIssue("the metric `cost` needs a cost block (parameter -> weight or {choice: cost})",
                                    "cost", line_of(("objectives",), lines)))
    if issues:
        raise SpecError(file, issues)


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def candidate(codesign: Codesign, values: dict[str, Any], number: int | None = None) -> Candidate:
    """The hardware candidate of ``values`` (parameter name -> sampled value or label); a combination its family
    refuses is a :class:`SpecError` (the trial is then infeasible)."""
    base = codesign.base
    settings = [_Setting(p.name, p.value(values[p.name]), p.field, p.line)
                for p in codesign.parameters if p.path]
    hardware = _hardware(base, settings)
    model = base.study.model
    dtype = next((p for p in codesign.parameters if p.name == "dtype"), None)
    if dtype is not None:
        model = replace(model, dtype=dtype.value(values["dtype"]))
        runs = families.get(hardware.family).dtypes(hardware)
        if model.dtype not in runs:
            raise SpecError(codesign.file, [SpecIssue(f"this hardware does not run {model.dtype} (it runs "
                                                      f"{', '.join(runs)})", dtype.field, dtype.line)])
    data = base.study.spec.model_dump(exclude_none=True)
    data.pop("reference", None)
    data["strategy"] = codesign.strategy
    data["name"] = f"{codesign.name} trial {number}" if number is not None else codesign.name
    spec = StudySpec.model_validate(data)
    study = replace(base.study, spec=spec, model=model, hardware=hardware, file=None)
    hardware_data = copy.deepcopy(base.hardware_data)
    for s in settings:
        _set(hardware_data, s.axis.split(".")[1:], s.value)
    run = RunFacts.of(study, codesign.strategy)
    return Candidate(dict(values), study, point_key(study, codesign.strategy, codesign.time_limit_s, codesign.seed),
                     run, hardware_data)


def cost_of(codesign: Codesign, values: dict[str, Any]) -> float:
    """The spec's ``cost`` of a candidate: the sum over its cost block of weight x value, or the choice's cost."""
    total = 0.0
    by_path = {p.path: p for p in codesign.parameters if p.path}
    for path, weight in codesign.cost.items():
        p = by_path[path]
        sampled = values[p.name]
        total += weight[str(sampled)] if isinstance(weight, dict) else weight * float(p.value(sampled))
    return total


def dominates(codesign: Codesign, big: dict[str, Any], small: dict[str, Any]) -> bool:
    """Whether candidate ``big`` has at least the hardware of ``small``: every ordered parameter (a range, numeric
    choices) at least as large (as small where the spec's ``more`` says so), every other one equal. A plan of ``small`` runs on ``big`` (a resource it leaves
    unused costs nothing), so ``big``'s optimum bounds ``small``'s: the relaxation pruning reads."""
    for p in codesign.parameters:
        a, b = big[p.name], small[p.name]
        if p.ordered and p.name != "dtype" and p.more != "neither":
            x, y = float(p.value(a)), float(p.value(b))
            if (x < y) if p.more == "larger" else (x > y):
                return False
        elif a != b:
            return False
    return True


__all__ = ["BOUNDED", "METRICS", "Candidate", "Codesign", "CodesignSpec", "Goal", "Parameter", "candidate",
           "codesign_schema", "cost_of", "dominates", "load_codesign"]
