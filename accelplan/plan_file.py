"""``plan.yaml``: the deployment config every emitter reads, and its loader.

The file describes itself: ``format``, the accelplan version and the run that produced it (study,
strategy, constraints, time limit, seed) first, then a ``units`` block naming the unit of every
number whose name does not carry it, the metrics and one entry per accelerator. Each GEMM is a
mapping ``{layer, m, k, n, count}``; per-accelerator fields a hardware family does not use (they
hold their defaults) are left out and read back as those defaults.
"""

from __future__ import annotations

import dataclasses
import functools
import types
import typing
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StrictBool, create_model

from . import families
from .errors import SpecError, SpecIssue
from .execution import Form
from .families import plan_form
from .objective import OBJECTIVES
from .outputs import write_atomic
from .plan import AcceleratorPlan, Plan, SolverFacts
from .specs.kinds import data_kind
from .specs.loader import Lines, format_path, line_of, read_yaml, validate
from .specs.schema import MAX_BATCH, MAX_DIM, MAX_OPERATORS, MAX_SEED

if TYPE_CHECKING:
    from .specs.study import Study

PLAN_FORMAT = 2
READABLE_FORMATS = (1, 2)  # format 1: GEMMs as [m, k, n, count] lists, every field written, no run facts
UNITS = {
    "throughput": "inferences/s", "period_ms": "ms",
    "latency_ms": "ms (one batch, as the plan's schedule runs it)",
    "closed_form_latency_ms": "ms (one batch: stage times + (batch - 1) x period; written where it differs)",
    "dispatch": "the rule each accelerator picks its next ready operator by (oldest-input, last-layer, first-layer)",
    "schedule": "per operator run of the batch, in run order: input, index into layers, start ms, end ms",
    "energy_mj": "mJ per inference",
    "busy_ms": "ms per period", "utilization": "fraction of the period (0-1)",
    "mac_efficiency": "fraction of the peak MAC rate (0-1)", "start_ms": "ms after the batch starts",
    "pace_ms": "ms between inputs", "buffer_bytes": "bytes", "solve_time_s": "s",
    "gemms": "m, k, n: GEMM dimensions (elements); count: GEMMs of that shape per inference",
    "partitions": "per layer [weight-shared groups, input-shared groups] (chiplet clusters)",
    "layer_tiles": "per layer [m, k, n]: the chiplet tile (chiplet clusters) or the block's parallelism (device chains)",
    "array": "engines along M, K, N (AI Engine arrays) or cluster rows, columns, 1 (chiplet clusters)",
    "budgets": "used and available in each budget's unit (B: bytes, ms, or a count)",
    "latency_max_ms, throughput_min": "the study's bounds: ms (one batch), inferences/s",
    "layer_times": "per layer: time_ms (ms per input), bound (the term of the cost model that sets it), terms_ms (each "
                   "of layer_terms, ms per input), macs (per input), mac_efficiency (0-1)",
    "solver.objective, solver.bound": "the objective's unit: inferences/s (throughput), ms (latency), mJ (energy)",
}
#: the per-accelerator fields every plan form's record has
_COMMON = {f.name for f in fields(AcceleratorPlan)}


COMMAND_LINE = "<command line>"  # the study a run records when it was given by --model and --hardware


@dataclass(frozen=True)
class RunFacts:
    """How a plan was asked for: the study, strategy, constraints, time limit and seed; for a study given on the command
    line (``study``: ``<command line>``), its model and hardware as given (built-in names, or absolute paths)."""

    study: str
    strategy: str
    time_limit_s: float
    seed: int
    constraints: dict[str, Any] = field(default_factory=dict)
    model: str | None = None
    hardware: str | None = None

    @classmethod
    def of(cls, study: "Study", strategy: str | None = None, time_limit_s: float | None = None,
           seed: int | None = None) -> "RunFacts":
        """The facts of a run of ``study`` (its own strategy, time limit and seed unless given)."""
        spec = study.spec
        constraints = {k: v for k, v in spec.constraints.model_dump().items() if v is not None}
        given = study.file == COMMAND_LINE
        return cls(study.file or study.name, strategy or study.strategy,
                   spec.time_limit_s if time_limit_s is None else time_limit_s,
                   spec.seed if seed is None else seed, constraints,
                   spec.model if given else None, spec.hardware if given else None)


def _accelerator(data: dict[str, Any], acc: AcceleratorPlan) -> dict[str, Any]:
    """One accelerator's entry: named GEMMs, and none of its form's own fields left at the default (a family that does
    not use it)."""
    for f in fields(acc):
        if f.name not in _COMMON and _tuples(data[f.name]) == _tuples(f.default):
            del data[f.name]
    data["gemms"] = [{"layer": layer, "m": m, "k": k, "n": n, "count": c}
                     for layer, (m, k, n, c) in zip(acc.layers, acc.gemms)]
    return data


def _tuples(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return tuple(_tuples(v) for v in value)
    return value


def plan_data(plan: Plan, run: RunFacts | None = None) -> dict[str, Any]:
    """The plan as plain data in the order of the file: format, run, units, metrics, accelerators."""
    from . import __version__

    data = plan.to_dict()
    head: dict[str, Any] = {"format": PLAN_FORMAT, "accelplan_version": __version__}
    if run is not None:
        head["run"] = {k: v for k, v in asdict(run).items() if v is not None}
    head["units"] = UNITS
    data["accelerators"] = [_accelerator(d, acc) for d, acc in zip(data["accelerators"], plan.accelerators)]
    for key in ("bottleneck", "closed_form_latency_ms", "dispatch", "latency_max_ms", "throughput_min", "layer_terms",
                "layer_times"):
        if not data.get(key):
            data.pop(key, None)
    return head | data


def plan_to_yaml(plan: Plan, run: RunFacts | None = None) -> str:
    """The plan as YAML: format, version and run facts, units, summary metrics, then one entry per accelerator."""
    data = plan_data(plan, run)
    head = {k: data.pop(k) for k in ("format", "accelplan_version", "run", "units") if k in data}
    return ("# accelplan deployment plan: read by `accelplan emit`; fields a family does not use are left out\n"
            + yaml.safe_dump(head, sort_keys=False, default_flow_style=False, width=100)
            + yaml.safe_dump(data, sort_keys=False, default_flow_style=None, width=100))


def write_plan(plan: Plan, path: Path, run: RunFacts | None = None) -> Path:
    """Write ``plan.yaml`` atomically."""
    return write_atomic(path, plan_to_yaml(plan, run))


# ------------------------------------------------------------------------------------------------ reading
# plan.yaml is read through a schema built from the plan's dataclasses (so a field added to a record is checked as
# its type says), with the limits of the specs: every int in range, every number finite, names strings, lists
# bounded. A file a command cannot use is refused before any command uses it, naming the file, line and field.
MAX_PLAN_ACCELERATORS = 4096  # accelerators (clusters, devices) of one plan
MAX_PORTS = 4096  # streams of one accelerator, in or out
MAX_PLAN_PORTS = 65_536  # streams of all accelerators together (each is a name in the emitted configs)
MAX_NAME = 1000  # characters of a name (model, layer, operator, configuration)
MAX_TEXT = 100_000  # characters of a message
MAX_NUMBER = 1e30  # a plan's times, rates, energies and fractions lie below
MAX_BYTES_FIELD = 2**63 - 1  # a byte count (SystemVerilog longint)
PER_LAYER = ("gemms", "partitions", "layer_tiles", "placements")  # one entry per layer of the accelerator, when given
_INT_LIMITS: dict[str, tuple[int, int]] = {
    "batch": (1, MAX_BATCH), "index": (0, MAX_PLAN_ACCELERATORS - 1), "segment": (0, MAX_PLAN_ACCELERATORS),
    "segments": (0, MAX_PLAN_ACCELERATORS), "ways": (1, MAX_PLAN_ACCELERATORS), "ports_in": (0, MAX_PORTS),
    "ports_out": (0, MAX_PORTS), "ports_lhs": (0, MAX_PORTS), "seed": (0, MAX_SEED), "evaluations": (0, 2**63 - 1),
    "format": (1, PLAN_FORMAT)}
#: the solver's figures may be infinite (the bound of an unbounded search) or missing; they are only printed
_UNBOUNDED_FLOATS = {SolverFacts: ("objective", "bound", "gap", "model_objective")}


def _int_type(name: str) -> Any:
    low, high = _INT_LIMITS.get(name, (0, MAX_BYTES_FIELD if name.endswith("bytes") else MAX_DIM))
    return Annotated[int, Field(strict=True, ge=low, le=high)]


def _gemm_row(value: Any) -> Any:
    """A GEMM as written since format 2, ``{layer, m, k, n, count}``, or format 1's row ``[m, k, n, count]``, as that
    row; each number an integer 0..MAX_DIM (a message naming the dimension and the limit)."""
    names = ("m", "k", "n", "count")
    layer = value.get("layer") if isinstance(value, dict) and isinstance(value.get("layer"), str) else None
    if isinstance(value, dict):
        extra = sorted(str(k) for k in value if k not in ("layer", *names))
        missing = [k for k in names if k not in value]
        if extra or missing:
            raise ValueError(f"a GEMM is {{layer, m, k, n, count}}: {'unknown ' + ', '.join(extra) if extra else ''}"
                             f"{'; ' if extra and missing else ''}{'missing ' + ', '.join(missing) if missing else ''}")
        if not isinstance(value.get("layer", ""), str):
            raise ValueError(f"a GEMM's layer is a name, not {type(value['layer']).__name__}")
        value = [value[k] for k in names]
    if not isinstance(value, (list, tuple)) or len(value) != 4:
        got = f"{len(value)} numbers" if isinstance(value, (list, tuple)) else type(value).__name__
        raise ValueError(f"a GEMM is {{layer, m, k, n, count}} or [m, k, n, count], not {got}")
    for name, v in zip(names, value):
        if type(v) is not int or not 0 <= v <= MAX_DIM:
            shown = repr(v) if len(repr(v)) <= 40 else repr(v)[:37] + "..."
            raise ValueError(f"{'' if layer is None else f'layer {layer[:80]!r}: '}{name} = {shown}: a GEMM's {name} "
                             f"is an integer from 0 to {MAX_DIM:,}")
    return value


_Size = Annotated[int, Field(strict=True, ge=0, le=MAX_DIM)]
GemmRow = Annotated[tuple[_Size, _Size, _Size, _Size], BeforeValidator(_gemm_row)]


def _field_type(owner: type, name: str, annotation: Any) -> Any:
    """The schema type of a plan dataclass field: its Python type with the plan file's limits."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if name == "gemms":
        return Annotated[list[GemmRow], Field(max_length=MAX_OPERATORS)]
    if annotation is bool:
        return StrictBool
    if annotation is int:
        return _int_type(name)
    if annotation is float:
        if name in _UNBOUNDED_FLOATS.get(owner, ()):
            return Annotated[float, Field(strict=False)]
        return Annotated[float, Field(ge=0, le=MAX_NUMBER, allow_inf_nan=False)]
    if annotation is str:
        return Annotated[str, Field(strict=True, max_length=MAX_TEXT if name in ("message",) else MAX_NAME)]
    if origin in (typing.Union, types.UnionType):
        kinds = [_field_type(owner, name, a) for a in args]
        return typing.Union[tuple(kinds)]
    if annotation is type(None):
        return type(None)
    if origin is typing.Literal:
        return annotation
    if origin is tuple and args:
        if args[-1] is Ellipsis:
            limit = MAX_PLAN_ACCELERATORS if name == "accelerators" else MAX_OPERATORS
            item = _field_type(owner, "message" if name == "violations" else name, args[0])
            return Annotated[list[item], Field(max_length=limit)]  # type: ignore[valid-type]
        return tuple[tuple(_field_type(owner, name, a) for a in args)]  # type: ignore[misc]
    if origin is dict:
        return dict[Annotated[str, Field(max_length=MAX_NAME)], Any]
    if dataclasses.is_dataclass(annotation):
        return _schema_of(annotation, False)
    return Any


@functools.lru_cache(maxsize=None)
def _schema_of(cls: type, legacy: bool) -> type[BaseModel]:
    """The pydantic model of a plan dataclass (``legacy``: a file written before plans named their form, whose
    accelerators held every form's fields; those the record does not have are ignored)."""
    hints = typing.get_type_hints(cls)
    fields_ = {}
    for f in dataclasses.fields(cls):
        kind = _field_type(cls, f.name, hints[f.name])
        if f.default is not dataclasses.MISSING:  # a variable-length tuple is read as a list: its default too
            variable = typing.get_origin(hints[f.name]) is tuple and typing.get_args(hints[f.name])[-1:] == (Ellipsis,)
            fields_[f.name] = (kind, list(f.default) if variable else f.default)
        elif f.default_factory is not dataclasses.MISSING:  # type: ignore[misc]
            fields_[f.name] = (kind, Field(default_factory=f.default_factory))  # type: ignore[misc]
        else:
            fields_[f.name] = (kind, ...)
    config = ConfigDict(extra="ignore" if legacy else "forbid", frozen=True, protected_namespaces=())
    return create_model(f"{cls.__name__}File", __config__=config, **fields_)  # type: ignore[call-overload]


@functools.lru_cache(maxsize=None)
def _plan_schema(legacy: bool) -> type[BaseModel]:
    """The whole file's top level: the format, version, run and units blocks and the plan's own fields (the
    accelerators as mappings: checked by their form's record once the form is known)."""
    base = _schema_of(Plan, legacy)
    extra: dict[str, Any] = {
        "format": (_int_type("format"), ...),
        "accelplan_version": (Annotated[str, Field(strict=True, max_length=MAX_NAME)] | None, None),
        "run": (_schema_of(RunFacts, False) | None, None),
        "units": (dict[Annotated[str, Field(max_length=MAX_NAME)], Any] | None, None),
        "accelerators": (Annotated[list[dict[str, Any]], Field(max_length=MAX_PLAN_ACCELERATORS)], ...),
    }
    config = ConfigDict(extra="forbid", frozen=True, protected_namespaces=())
    return create_model("PlanFile", __config__=config,
                        **{**{n: (f.annotation, f) for n, f in base.model_fields.items()}, **extra})


def plan_file_schema() -> dict[str, Any]:
    """JSON Schema of a ``plan.yaml`` as read (the accelerators' fields depend on the plan form)."""
    return _plan_schema(False).model_json_schema()


def _issue(path: Path, lines: Lines, at: tuple, message: str) -> SpecError:
    return SpecError(str(path), [SpecIssue(message, format_path(at), line_of(at, lines))])


def _read(path: Path) -> tuple[Any, Lines]:
    """The YAML document at ``path`` with its lines (read with the spec reader's limits: size, aliases, depth)."""
    if _is_dir(path):
        raise SpecError(str(path), [SpecIssue("is a folder; give a plan.yaml written by accelplan solve")])
    return read_yaml(path)


def _is_dir(path: Path) -> bool:
    try:
        return path.is_dir()
    except (OSError, ValueError):
        return False


def looks_like_plan(path: Path) -> bool:
    """True when ``path`` is YAML of the plan kind (:func:`~accelplan.specs.kinds.spec_kind`: ``format`` and
    ``accelerators``); it may still be malformed. A file that cannot be read within the spec limits is not."""
    try:
        data, _ = _read(path)
    except SpecError:
        return False
    return data_kind(data) == "plan"


def _scheduled_as_latency(data: dict[str, Any]) -> dict[str, Any]:
    """A file written before a plan's latency was its schedule's gave a re-entrant plan's schedule as
    ``scheduled_latency_ms`` beside the closed form in ``latency_ms``: read as the latency and its closed form."""
    if "scheduled_latency_ms" not in data:
        return data
    data = dict(data)
    scheduled = data.pop("scheduled_latency_ms")
    if scheduled is not None:
        data["closed_form_latency_ms"], data["latency_ms"] = data.get("latency_ms"), scheduled
    return data


def check_plan_data(data: Any, lines: Lines, path: Path) -> dict[str, Any]:
    """The plan file's data checked against the plan schema and its form's accelerator record; returns the plan's
    fields (without format, version, run and units) with the accelerators checked. Raises :class:`SpecError`
    naming the file, line and field."""
    file = str(path)
    if not isinstance(data, dict) or data.get("format") not in READABLE_FORMATS or isinstance(data.get("format"), bool):
        raise _issue(path, lines, ("format",), f"not an accelplan plan (expected 'format: {PLAN_FORMAT}' written by "
                                               f"accelplan solve; readable formats: "
                                               f"{', '.join(map(str, READABLE_FORMATS))})")
    legacy = "form" not in data
    data = _scheduled_as_latency(data)
    top = validate(_plan_schema(legacy), data, lines, file)
    family = top.family
    if family not in families.names():
        raise _issue(path, lines, ("family",), f"unknown hardware family {family!r}; known: "
                                               f"{', '.join(families.names())}")
    fam = families.get(family)
    executions = [m.name for m in fam.executions]
    if top.execution not in executions:
        raise _issue(path, lines, ("execution",), f"{top.execution!r} is not an execution model of {family}; "
                                                  f"valid: {', '.join(executions)}")
    if top.objective not in OBJECTIVES:
        raise _issue(path, lines, ("objective",), f"unknown objective {top.objective!r}; valid: "
                                                  f"{', '.join(OBJECTIVES)}")
    try:
        form = plan_form({"form": top.form, "family": family, "execution": top.execution})
    except (KeyError, ValueError, SpecError):
        raise _issue(path, lines, ("form",), f"unknown plan form {top.form!r}; valid: "
                                             f"{', '.join(f.label for f in Form)}") from None
    record = form.model.accelerator
    if top.feasible and not top.accelerators:
        raise _issue(path, lines, ("accelerators",), "a feasible plan has at least one accelerator (an empty list "
                                                     "is written only for an infeasible plan, feasible: false)")
    schema = _schema_of(record, legacy)
    accelerators, seen, ports = [], {}, 0
    for i, acc in enumerate(top.accelerators):
        at = ("accelerators", i)
        try:
            checked = validate(schema, acc, {k[2:]: v for k, v in lines.items() if k[:2] == at}, file)
        except SpecError as exc:  # fields named from the top of the file
            raise SpecError(file, [dataclasses.replace(x, field=format_path(at) + (
                "." + x.field if x.field and not x.field.startswith("[") else x.field or "")) for x in exc.issues]) \
                from None
        layers = len(checked.layers)
        for name in PER_LAYER:
            value = getattr(checked, name, None)
            if value and len(value) != layers:
                raise _issue(path, lines, at + (name,), f"{len(value)} entries for the {layers} layers of the "
                                                       "accelerator: one per layer")
        if layers == 0 and top.feasible:
            raise _issue(path, lines, at + ("layers",), "an accelerator of a feasible plan runs at least one layer")
        if checked.index in seen:
            raise _issue(path, lines, at + ("index",), f"index {checked.index} is also accelerators[{seen[checked.index]}]"
                                                       "'s; each accelerator has its own")
        seen[checked.index] = i
        ports += sum(getattr(checked, n, 0) for n in ("ports_in", "ports_out"))
        if ports > MAX_PLAN_PORTS:
            raise _issue(path, lines, at, f"the plan's accelerators have more than {MAX_PLAN_PORTS:,} streams "
                                          "(ports_in + ports_out) together")
        if getattr(checked, "ports_lhs", 0) > getattr(checked, "ports_in", 0):
            raise _issue(path, lines, at + ("ports_lhs",), f"{checked.ports_lhs} LHS streams of "
                                                           f"{checked.ports_in} ports_in: at most ports_in")
        accelerators.append({k: v for k, v in checked.model_dump().items() if k in acc or k == "gemms"})
    out = {k: v for k, v in data.items() if k not in ("format", "accelplan_version", "run", "units")}
    out["accelerators"] = accelerators
    return out


def read_plan(path: Path) -> Plan:
    """Load a ``plan.yaml`` written by :func:`write_plan` (format 2, or format 1 of earlier versions), checked
    through the plan schema first (:func:`check_plan_data`)."""
    data, lines = _read(path)
    checked = check_plan_data(data, lines, path)
    try:
        return Plan.from_dict(checked, plan_form(checked).model.accelerator)
    except (KeyError, TypeError, ValueError) as exc:
        raise SpecError(str(path), [SpecIssue(f"malformed plan: {exc}")]) from None
