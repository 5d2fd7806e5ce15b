"""``plan.yaml``: the deployment config every emitter reads, and its loader.

The file describes itself: ``format``, the accelplan version and the run that produced it (study,
strategy, constraints, time limit, seed) first, then a ``units`` block naming the unit of every
number whose name does not carry it, the metrics and one entry per accelerator. Each GEMM is a
mapping ``{layer, m, k, n, count}``; per-accelerator fields a hardware family does not use (they
hold their defaults) are left out and read back as those defaults.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from .errors import SpecError, SpecIssue
from .families import plan_form
from .outputs import write_atomic
from .plan import AcceleratorPlan, Plan
from .specs.kinds import data_kind

if TYPE_CHECKING:
    from .specs.study import Study

PLAN_FORMAT = 2
READABLE_FORMATS = (1, 2)  # format 1: GEMMs as [m, k, n, count] lists, every field written, no run facts
UNITS = {
    "throughput": "inferences/s", "period_ms": "ms", "latency_ms": "ms (one batch)",
    "scheduled_latency_ms": "ms (one batch, as the plan's schedule runs it; written for re-entrant plans)",
    "energy_mj": "mJ per inference",
    "busy_ms": "ms per period", "utilization": "fraction of the period (0-1)",
    "mac_efficiency": "fraction of the peak MAC rate (0-1)", "start_ms": "ms after the batch starts",
    "pace_ms": "ms between inputs", "buffer_bytes": "bytes", "solve_time_s": "s",
    "gemms": "m, k, n: GEMM dimensions (elements); count: GEMMs of that shape per inference",
    "partitions": "per layer [weight-shared groups, input-shared groups] (chiplet clusters)",
    "layer_tiles": "per layer [m, k, n]: the chiplet tile (chiplet clusters) or the block's parallelism (device chains)",
    "array": "engines along M, K, N (AI Engine arrays) or cluster rows, columns, 1 (chiplet clusters)",
    "budgets": "used and available in each budget's unit (B: bytes, ms, or a count)",
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
    for key in ("bottleneck", "scheduled_latency_ms"):
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


def _load(path: Path) -> Any:
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SpecError(str(path), [SpecIssue("file not found")]) from None
    except (UnicodeDecodeError, ValueError) as exc:
        raise SpecError(str(path), [SpecIssue(f"not a text file: {exc}")]) from None
    except yaml.YAMLError as exc:
        raise SpecError(str(path), [SpecIssue(f"invalid YAML: {exc}")]) from None


def looks_like_plan(path: Path) -> bool:
    """True when ``path`` is YAML of the plan kind (:func:`~accelplan.specs.kinds.spec_kind`: ``format`` and
    ``accelerators``); it may still be malformed."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, yaml.YAMLError):
        return False
    return data_kind(data) == "plan"


def _gemm(item: Any, where: str) -> tuple[int, int, int, int]:
    if isinstance(item, dict):
        missing = [k for k in ("m", "k", "n", "count") if k not in item]
        if missing:
            raise TypeError(f"{where}: a GEMM needs {', '.join(missing)}")
        item = [item["m"], item["k"], item["n"], item["count"]]
    if not isinstance(item, (list, tuple)) or len(item) != 4 or not all(type(v) is int and v >= 0 for v in item):
        raise TypeError(f"{where}: a GEMM is {{layer, m, k, n, count}} with non-negative integers, not {item!r}")
    return tuple(item)  # type: ignore[return-value]


def read_plan(path: Path) -> Plan:
    """Load a ``plan.yaml`` written by :func:`write_plan` (format 2, or format 1 of earlier versions)."""
    data = _load(path)
    if not isinstance(data, dict) or data.get("format") not in READABLE_FORMATS:
        raise SpecError(str(path), [SpecIssue(
            f"not an accelplan plan (expected 'format: {PLAN_FORMAT}' written by accelplan solve)", "format")])
    data = {k: v for k, v in data.items() if k not in ("format", "accelplan_version", "run", "units")}
    try:
        accs = data.get("accelerators")
        if not isinstance(accs, list):
            raise TypeError("accelerators must be a list")
        for i, acc in enumerate(accs):
            if not isinstance(acc, dict):
                raise TypeError(f"accelerators[{i}] must be a mapping")
            acc["gemms"] = [_gemm(g, f"accelerators[{i}].gemms[{j}]") for j, g in enumerate(acc.get("gemms", []))]
            if len(acc["gemms"]) != len(acc.get("layers", [])):
                raise TypeError(f"accelerators[{i}]: {len(acc['gemms'])} GEMMs for {len(acc.get('layers', []))} layers")
        return Plan.from_dict(data, plan_form(data).model.accelerator)
    except (KeyError, TypeError, ValueError) as exc:
        raise SpecError(str(path), [SpecIssue(f"malformed plan: {exc}")]) from None
