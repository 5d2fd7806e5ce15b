"""Sweep specs: a base study and the points to solve, checked with the sweep file's lines.

A sweep file::

    name: BERT-base on VCK190 variants
    model: bert-base        # the base study: `study: FILE` (relative to this file) and/or model + hardware,
    hardware: vck190        # and any study field (execution, objective, constraints, strategy, time_limit_s, seed)
    strategy: colgen
    time_limit_s: 10
    grid:                   # the cartesian product of every axis
      hardware:             # any field of the hardware spec by dotted path, checked against its family's schema
        aie.units: [100, 200, 400]
        plio.ports_in: [40, 100]
      batch: [8, 16]
    points:                 # and/or explicit points, each over the base study (not crossed with the grid)
      - {hardware: {aie.units: 300}, batch: 4}

Axes: ``hardware`` (dotted paths; a list element by its index, e.g. ``mesh.0``), ``model``, ``batch``,
``latency_max_ms``, ``throughput_min``, ``max_accelerators``, ``execution``, ``objective``, ``strategy``.
Every point is expanded into a fully loaded :class:`~accelplan.specs.study.Study` before anything is
solved; a bad path or value is a :class:`~accelplan.errors.SpecError` naming the sweep file, the line
and the sweep field (e.g. ``grid.hardware.aie.units[2]``).
"""

from __future__ import annotations

import copy
import itertools
import math
import typing
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, model_validator

from .. import families
from ..errors import SpecError, SpecIssue
from ..plan_file import RunFacts
from ..specs.loader import Lines, line_of, read_yaml, validate
from ..solvers.registry import STRATEGY_CHOICES
from ..specs.schema import MAX_ACCELERATORS, MAX_BATCH, MAX_SEED, Constraints, Dim, Finite, Objective, Strict, StudySpec
from ..specs.study import Study, check_execution, load_model, load_study, resolve, study_from_data
from ..specs.library import builtin_names
from .cache import point_key

MAX_POINTS = 10_000  # points of one sweep, grid and list together (each is loaded and checked before any solve)
MAX_VALUES = 10_000  # values of one axis
MAX_ISSUES = 20  # distinct problems reported at once

HardwarePath = Annotated[str, Field(pattern=r"^[A-Za-z_][\w-]*(\.([A-Za-z_][\w-]*|[0-9]+))*$",
                                    description="a field of the hardware spec by dotted path, e.g. aie.units")]
Batch = Annotated[int, Field(strict=True, gt=0, le=MAX_BATCH)]
Accelerators = Annotated[int, Field(strict=True, gt=0, le=MAX_ACCELERATORS)]
ModelRef = Annotated[str, Field(min_length=1, description="built-in model name or path relative to the sweep file")]
Execution = Annotated[str, Field(min_length=1)]
#: a strategy's name, as the strategy registry declares them (checked when the sweep file is read)
Strategy = Literal[STRATEGY_CHOICES]  # type: ignore[valid-type]
AnyValues = Annotated[list[Any], Field(min_length=1, max_length=MAX_VALUES)]
ModelValues = Annotated[list[ModelRef], Field(min_length=1, max_length=MAX_VALUES)]
BatchValues = Annotated[list[Batch], Field(min_length=1, max_length=MAX_VALUES)]
BoundValues = Annotated[list[Finite | None], Field(min_length=1, max_length=MAX_VALUES)]
AcceleratorValues = Annotated[list[Accelerators | None], Field(min_length=1, max_length=MAX_VALUES)]
ExecutionValues = Annotated[list[Execution], Field(min_length=1, max_length=MAX_VALUES)]
ObjectiveValues = Annotated[list[Objective], Field(min_length=1, max_length=MAX_VALUES)]
StrategyValues = Annotated[list[Strategy], Field(min_length=1, max_length=MAX_VALUES)]


class Grid(Strict):
    """Axes whose cartesian product gives points; a ``null`` bound means none."""

    hardware: dict[HardwarePath, AnyValues] = Field(
        default_factory=dict, description="hardware field (dotted path) -> values, e.g. aie.units: [100, 200, 400]")
    model: ModelValues | None = None
    batch: BatchValues | None = None
    latency_max_ms: BoundValues | None = None
    throughput_min: BoundValues | None = None
    max_accelerators: AcceleratorValues | None = None
    execution: ExecutionValues | None = None
    objective: ObjectiveValues | None = None
    strategy: StrategyValues | None = None


class Point(Strict):
    """One explicit point over the base study; a ``null`` bound means none."""

    hardware: dict[HardwarePath, Any] = Field(default_factory=dict, description="hardware field (dotted path) -> value")
    model: ModelRef | None = None
    batch: Batch | None = None
    latency_max_ms: Finite | None = None
    throughput_min: Finite | None = None
    max_accelerators: Accelerators | None = None
    execution: Execution | None = None
    objective: Objective | None = None
    strategy: Strategy | None = None


class SweepSpec(Strict):
    """A design-space sweep: a base study (a study file and/or its fields) and a grid and/or list of points."""

    name: str | None = None
    study: str | None = Field(None, min_length=1, description="base study file, relative to this file")
    model: ModelRef | None = None
    hardware: str | None = Field(None, min_length=1, description="built-in hardware name or path relative to this file")
    execution: Execution | None = None
    objective: Objective | None = None
    constraints: Constraints | None = None
    strategy: Strategy | None = Field(None, description="every point's strategy unless an axis sets it")
    time_limit_s: Annotated[float, Field(gt=0, le=7 * 86400, allow_inf_nan=False)] | None = Field(
        None, description="wall-clock limit of each point's solve (s)")
    seed: Annotated[int, Field(ge=0, le=MAX_SEED, strict=True)] | None = None
    model_dims: dict[str, Dim] | None = None
    grid: Grid | None = None
    points: Annotated[list[Point], Field(min_length=1, max_length=MAX_POINTS)] | None = None

    @model_validator(mode="after")
    def _complete(self) -> "SweepSpec":
        if self.grid is None and self.points is None:
            raise ValueError("give a grid and/or a list of points")
        if self.study is None and (self.model is None or self.hardware is None):
            raise ValueError("give a base study: `study: FILE`, or `model` and `hardware`")
        return self


#: study axes -> the field of a study spec they set
STUDY_AXES: dict[str, tuple[str, ...]] = {
    "model": ("model",), "batch": ("constraints", "batch"), "latency_max_ms": ("constraints", "latency_max_ms"),
    "throughput_min": ("constraints", "throughput_min"), "max_accelerators": ("constraints", "max_accelerators"),
    "execution": ("execution",), "objective": ("objective",), "strategy": ("strategy",)}
_BASE_FIELDS = ("model", "hardware", "execution", "objective", "strategy", "time_limit_s", "seed", "model_dims")


@dataclass(frozen=True)
class Param:
    """One axis of a point and its value (the point's own, or the base study's)."""

    axis: str  # "hardware.aie.units", "batch", ...
    value: Any


@dataclass(frozen=True)
class SweepPoint:
    """A point to solve: its study (fully loaded), how to solve it, its cache key and the run facts its plan file
    records."""

    id: str
    params: tuple[Param, ...]
    study: Study
    strategy: str
    time_limit_s: float
    seed: int
    key: str
    run: RunFacts


@dataclass(frozen=True)
class Sweep:
    """A loaded sweep: its axes and every point, in grid order then list order."""

    name: str
    file: str
    axes: tuple[str, ...]
    points: tuple[SweepPoint, ...]


@dataclass(frozen=True)
class _Setting:
    """A value a point sets: its axis, where it is written in the sweep file (field and line)."""

    axis: str
    value: Any
    field: str
    line: int | None


@dataclass(frozen=True)
class _Base:
    """The base study and the hardware file's data, which hardware axes change."""

    study: Study
    hardware_data: dict[str, Any]
    file: str
    folder: Path
    lines: Lines


def sweep_schema() -> dict[str, Any]:
    """JSON Schema of a sweep spec."""
    from pydantic import TypeAdapter

    return TypeAdapter(SweepSpec).json_schema()


def load_sweep(path: Path) -> Sweep:
    """Read, check and expand a sweep file: every point's study loaded, every problem named with its line."""
    file = str(path)
    data, lines = read_yaml(path)
    spec = validate(SweepSpec, data, lines, file)
    base = _base(spec, lines, file, path.parent)
    for path_, field, line in _hardware_axes(spec, lines):
        _check_hardware_path(base, path_, field, line)
    combos = _combinations(spec, lines, file)
    width = max(3, len(str(len(combos))))
    axes = _axes(spec)
    name = spec.name or path.stem
    points, issues, models = [], {}, {}
    for i, settings in enumerate(combos, start=1):
        try:
            points.append(_point(base, f"{i:0{width}d}", settings, axes, name, models))
        except SpecError as exc:  # the same problem at other points (other values alongside) is told once
            issues |= {(x.field, x.line, x.message.split(" (with ")[0]): x for x in exc.issues
                       if (x.field, x.line, x.message.split(" (with ")[0]) not in issues}
            if len(issues) >= MAX_ISSUES:
                break
    if issues:
        raise SpecError(file, sorted(issues.values(), key=lambda x: x.line or 0)[:MAX_ISSUES])
    return Sweep(name, file, axes, tuple(points))


def _base(spec: SweepSpec, lines: Lines, file: str, folder: Path) -> _Base:
    """The base study: the study file's fields (its paths made absolute), then the sweep's own."""
    data: dict[str, Any] = {}
    if spec.study is not None:
        path = Path(spec.study) if Path(spec.study).is_absolute() else folder / spec.study
        if not path.is_file():
            raise SpecError(file, [SpecIssue(f"file {str(path)!r} not found", "study", line_of(("study",), lines))])
        study = load_study(path, STRATEGY_CHOICES)
        data = study.spec.model_dump(exclude_none=True)
        for key, kind in (("model", "models"), ("hardware", "hardware")):
            ref = resolve(data[key], kind, path.parent)
            if ref is not None and ref.is_file():
                data[key] = str(ref.resolve())
    data.pop("reference", None)  # a sweep solves its points only
    for key in _BASE_FIELDS:
        if getattr(spec, key) is not None:
            data[key] = getattr(spec, key)
    if spec.constraints is not None:
        data["constraints"] = data.get("constraints", {}) | spec.constraints.model_dump(exclude_unset=True)
    if spec.name is not None:
        data["name"] = spec.name
    study = study_from_data(data, lines, file, folder, STRATEGY_CHOICES)
    hw_path = resolve(study.spec.hardware, "hardware", folder)
    hardware_data, _ = read_yaml(hw_path)
    return _Base(study, hardware_data, file, folder, lines)


def _hardware_axes(spec: SweepSpec, lines: Lines) -> list[tuple[str, str, int | None]]:
    """(dotted path, sweep field, line) of every hardware axis, in the order written."""
    found: dict[str, tuple[str, int | None]] = {}
    if spec.grid is not None:
        found |= {p: (f"grid.hardware.{p}", line_of(("grid", "hardware", p), lines)) for p in spec.grid.hardware}
    for j, point in enumerate(spec.points or ()):
        found |= {p: (f"points[{j}].hardware.{p}", line_of(("points", j, "hardware", p), lines))
                  for p in point.hardware if p not in found}
    return [(p, field, line) for p, (field, line) in found.items()]


def _axes(spec: SweepSpec) -> tuple[str, ...]:
    """Every axis a point sets: hardware paths (prefixed ``hardware.``) first, then study axes."""
    hardware = [f"hardware.{p}" for p, _, _ in _hardware_axes(spec, {})]
    sources = [spec.grid] if spec.grid is not None else []
    sources += list(spec.points or ())
    study = [a for a in STUDY_AXES
             if any(getattr(s, a) is not None or (isinstance(s, Point) and a in s.model_fields_set) for s in sources)]
    return tuple(hardware + study)


def _combinations(spec: SweepSpec, lines: Lines, file: str) -> list[tuple[_Setting, ...]]:
    """The settings of every point: the grid's cartesian product, then the listed points."""
    combos: list[tuple[_Setting, ...]] = []
    if spec.grid is not None:
        axes = [[_Setting(f"hardware.{p}", v, f"grid.hardware.{p}[{i}]", line_of(("grid", "hardware", p, i), lines))
                 for i, v in enumerate(values)] for p, values in spec.grid.hardware.items()]
        axes += [[_Setting(a, v, f"grid.{a}[{i}]", line_of(("grid", a, i), lines)) for i, v in enumerate(values)]
                 for a in STUDY_AXES if (values := getattr(spec.grid, a)) is not None]
        if not axes:
            raise SpecError(file, [SpecIssue("the grid has no axis; give at least one, e.g. hardware: {aie.units: "
                                             "[100, 400]} or batch: [8, 16]", "grid", line_of(("grid",), lines))])
        count = math.prod(len(a) for a in axes)
        if count + len(spec.points or ()) > MAX_POINTS:
            listed = f" and {len(spec.points):,} listed points" if spec.points else ""
            raise SpecError(file, [SpecIssue(f"the grid expands to {count:,} points{listed}; a sweep is limited to "
                                             f"{MAX_POINTS:,} (the product of the axes' lengths): split it into "
                                             "several sweeps or give fewer values", "grid", line_of(("grid",), lines))])
        combos += list(itertools.product(*axes))
    for j, point in enumerate(spec.points or ()):
        settings = [_Setting(f"hardware.{p}", v, f"points[{j}].hardware.{p}",
                             line_of(("points", j, "hardware", p), lines)) for p, v in point.hardware.items()]
        settings += [_Setting(a, getattr(point, a), f"points[{j}].{a}", line_of(("points", j, a), lines))
                     for a in STUDY_AXES if a in point.model_fields_set]
        combos.append(tuple(settings))
    return combos


def _point(base: _Base, id_: str, settings: tuple[_Setting, ...], axes: tuple[str, ...], name: str,
           models: dict[str, Any]) -> SweepPoint:
    """One point's study: its hardware, model and study fields set, checked like a study file."""
    hardware = _hardware(base, [s for s in settings if s.axis.startswith("hardware.")])
    model_setting = next((s for s in settings if s.axis == "model"), None)
    model = base.study.model if model_setting is None else _model(base, model_setting, models)
    data = base.study.spec.model_dump(exclude_none=True)
    data.pop("reference", None)
    data["constraints"] = dict(data.get("constraints", {}))
    point_lines: Lines = {}
    for s in settings:
        if s.axis in STUDY_AXES:
            *parent, leaf = STUDY_AXES[s.axis]
            target = data["constraints"] if parent else data
            target[leaf] = s.value
            point_lines[STUDY_AXES[s.axis]] = s.line
    desc = ", ".join(f"{s.axis}={s.value}" for s in settings)
    data["name"] = f"{name} point {id_}" + (f" ({desc})" if desc else "")
    spec = validate(StudySpec, data, point_lines, base.file)
    study = replace(base.study, spec=spec, model=model, hardware=hardware, file=None)
    _check_point(study, settings, base.file, point_lines)
    params = tuple(Param(a, _value(a, study, settings, base)) for a in axes)
    strategy, time_limit_s, seed = study.strategy, spec.time_limit_s, spec.seed
    return SweepPoint(id_, params, study, strategy, time_limit_s, seed, point_key(study, strategy, time_limit_s, seed),
                      RunFacts.of(study, strategy))


def _check_point(study: Study, settings: tuple[_Setting, ...], file: str, lines: Lines) -> None:
    """The execution model must be one of the hardware's family, and the hardware must run the model's dtype."""
    try:
        check_execution(study.spec, study.hardware, file, lines)
    except SpecError as exc:
        where = next((s for s in settings if s.axis == "execution"), None)
        raise SpecError(file, [replace(i, field=where.field if where else i.field) for i in exc.issues]) from None
    supported = families.get(study.hardware.family).dtypes(study.hardware)
    if study.model.dtype not in supported:
        where = next((s for s in settings if s.axis == "model" or s.axis.startswith("hardware.")), None)
        raise SpecError(file, [SpecIssue(
            f"model {study.model.name!r} uses dtype {study.model.dtype!r}, which this hardware does not run "
            f"(supported: {', '.join(supported) or 'none'})", where.field if where else "model",
            where.line if where else None)])


_UNSET = object()


def _value(axis: str, study: Study, settings: tuple[_Setting, ...], base: _Base) -> Any:
    """The point's value of ``axis``: what it sets, else what its study resolves to."""
    own = next((s.value for s in settings if s.axis == axis), _UNSET)
    if own is not _UNSET and axis != "model":
        return own
    if axis.startswith("hardware."):
        return _get(base.hardware_data, axis.split(".")[1:])
    return {"model": study.model.name, "batch": study.batch, "execution": study.execution,
            "objective": study.spec.objective, "strategy": study.strategy}.get(
        axis, getattr(study.spec.constraints, axis, None))



def _get(data: Any, parts: list[str]) -> Any:
    """The value at a dotted path's ``parts`` in YAML data (None where the data leaves it out)."""
    for part in parts:
        if isinstance(data, list) and part.isdigit() and int(part) < len(data):
            data = data[int(part)]
        elif isinstance(data, dict) and part in data:
            data = data[part]
        else:
            return None
    return data


def _model(base: _Base, setting: _Setting, models: dict[str, Any]) -> Any:
    """The network a model axis names (built-in name, or a path relative to the sweep file), loaded once."""
    ref = setting.value
    if ref not in models:
        path = resolve(ref, "models", base.folder)
        if path is None or not path.is_file():
            what = (f"no built-in model named {ref!r}; built-in: {', '.join(builtin_names('models'))}; "
                    "or give a path to a .yaml file") if path is None else f"file {str(path)!r} not found"
            raise SpecError(base.file, [SpecIssue(what, setting.field, setting.line)])
        models[ref] = load_model(path, base.study.spec.model_dims)
    return models[ref]


def _hardware(base: _Base, settings: list[_Setting]) -> Any:
    """The base hardware with the point's hardware fields set, validated and checked by its family."""
    if not settings:
        return base.study.hardware
    data = copy.deepcopy(base.hardware_data)
    for i, s in enumerate(settings):
        try:
            _set(data, s.axis.split(".")[1:], s.value)
        except _Crossed as exc:
            raise SpecError(base.file, [SpecIssue(_crossed_message(s, exc, settings[:i]), s.field, s.line)]) from None
    family = families.get(base.study.hardware.family)
    try:
        hw = validate(family.spec, data, {}, base.file)
        issues = family.check(hw, {})
    except SpecError as exc:
        issues = exc.issues
    if not issues:
        return hw
    values = ", ".join(f"{s.axis[len('hardware.'):]}={_short(s.value)}" for s in settings)
    out = []
    for issue in issues:
        where = next((s for s in settings if issue.field and issue.field.startswith(s.axis[len("hardware."):])),
                     settings[0])
        out.append(SpecIssue(f"hardware field {issue.field or '(spec)'}: {issue.message} (with {values})",
                             where.field, where.line))
    raise SpecError(base.file, out)


def _short(value: Any, limit: int = 60) -> str:
    """``value`` as the sweep file writes it, cut to ``limit`` characters."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."


class _Crossed(Exception):
    """A dotted path that runs through a value that is not a mapping or a list of that length (set by an earlier
    axis, or so in the hardware file): ``at`` is the part of the path reached, ``found`` what is there."""

    def __init__(self, at: list[str], found: Any, part: str) -> None:
        super().__init__(".".join(at))
        self.at, self.found, self.part = at, found, part


def _crossed_message(setting: _Setting, exc: _Crossed, earlier: list[_Setting]) -> str:
    """Why ``setting``'s path cannot be set: what stands where it goes and which earlier axis put it there."""
    path = setting.axis[len("hardware."):]
    where = ".".join(exc.at) or "the top level"
    found = exc.found
    what = (f"a list of {len(found)}" if isinstance(found, list) else
            "a mapping" if isinstance(found, dict) else f"{_short(found)} (of type {type(found).__name__})")
    step = (f"index {exc.part} is out of range" if isinstance(found, list) and exc.part.isdigit() else
            f"{exc.part!r} is not an index" if isinstance(found, list) else f"it has no field {exc.part!r}")
    by = next((s for s in reversed(earlier) if ".".join(exc.at).startswith(s.axis[len("hardware."):])
               or s.axis[len("hardware."):].startswith(".".join(exc.at) + ".")), None)
    cause = (f"; the earlier axis {by.axis[len('hardware.'):]} = {_short(by.value)} ({by.field}) changed its shape"
             if by is not None else "")
    return (f"{path} = {_short(setting.value)} cannot be set: {where} is {what} at this point, so {step}{cause}. "
            "A hardware axis may not run through a value an earlier axis replaces: give each point the whole "
            "value of the outer field, or leave the outer field's axis out")


def _set(data: dict[str, Any], parts: list[str], value: Any) -> None:
    """Set a dotted path in the hardware data, making the mappings of an optional block that the file leaves out
    (absent or null); raise :class:`_Crossed` where the path runs through a scalar or past a list's end."""
    cur: Any = data
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        if isinstance(cur, list):
            if not part.isdigit() or int(part) >= len(cur):
                raise _Crossed(parts[:i], cur, part)
            if last:
                cur[int(part)] = value
            else:
                cur = cur[int(part)]
        elif isinstance(cur, dict):
            if last:
                cur[part] = value
            else:
                if cur.get(part) is None:
                    cur[part] = {}
                cur = cur[part]
        else:
            raise _Crossed(parts[:i], cur, part)


def _check_hardware_path(base: _Base, path: str, field: str, line: int | None) -> None:
    """A hardware axis must name a field of its family's hardware schema (a list element by its index)."""
    family = families.get(base.study.hardware.family)
    annotation: Any = family.spec
    done: list[str] = []
    for part in path.split("."):
        nxt, allowed = _step(annotation, part)
        here = _get(base.hardware_data, done)
        where = ".".join(done) or "the top level"
        if nxt is not None and isinstance(here, list) and int(part) >= len(here):
            nxt, allowed = None, []
        if nxt is None:
            hint = (f"fields of {where}: {', '.join(allowed)}" if allowed else
                    f"{where} is a list of {len(here)}: give an index 0..{len(here) - 1}" if isinstance(here, list) else
                    f"{where} has no fields")
            raise SpecError(base.file, [SpecIssue(f"{path!r} is not a field of {family.name} hardware "
                                                  f"({part!r} unknown; {hint})", field, line)])
        annotation = nxt
        done.append(part)


def _leaves(annotation: Any) -> list[Any]:
    """The types a (possibly Annotated, Optional or union) annotation stands for."""
    origin = typing.get_origin(annotation)
    if origin is Annotated:
        return _leaves(typing.get_args(annotation)[0])
    if origin is typing.Union or type(annotation).__name__ == "UnionType":
        return [leaf for arg in typing.get_args(annotation) for leaf in _leaves(arg)]
    return [annotation]


def _step(annotation: Any, part: str) -> tuple[Any, list[str]]:
    """The annotation of ``part`` within ``annotation`` (None when it has no such field) and the fields it has."""
    allowed: list[str] = []
    for leaf in _leaves(annotation):
        if isinstance(leaf, type) and issubclass(leaf, BaseModel):
            if part in leaf.model_fields:
                return leaf.model_fields[part].annotation, []
            allowed += [n for n in leaf.model_fields if n not in allowed]
        origin, args = typing.get_origin(leaf), typing.get_args(leaf)
        if origin is dict and len(args) == 2:
            return args[1], []
        if origin in (list, tuple) and args and part.isdigit():
            if origin is tuple and args[-1] is not Ellipsis:
                return (args[int(part)] if int(part) < len(args) else None), []
            return args[0], []
    return None, allowed
