"""Load a study: its model and hardware (built-in names or paths), checked against each other."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from .. import families
from ..errors import SpecError, SpecIssue
from .library import builtin_names, builtin_path
from .loader import Lines, line_of, load, read_yaml, validate
from .network import Network, flatten
from .schema import ModelSpec, StudySpec

Hardware = Any  # a hardware family's spec model (see accelplan.families)


@dataclass(frozen=True)
class Study:
    """A fully loaded study: everything the problem builder needs, no YAML left."""

    spec: StudySpec
    model: Network
    hardware: Hardware
    file: str | None = None
    reference: Hardware | None = None  # the hardware the plan is compared with (see load_reference)

    @property
    def execution(self) -> str:
        """The study's execution model, or its hardware family's default (:attr:`Family.default_execution`)."""
        return self.spec.execution or families.get(self.hardware.family).default_execution

    @property
    def batch(self) -> int:
        """Inputs per batch: the workload's sequences in flight, else the study's constraint, else the model's default."""
        if self.spec.workload is not None:
            return self.spec.workload.sequences
        return self.spec.constraints.batch or self.model.batch

    @property
    def workload(self):
        """The study's serving workload (:class:`~accelplan.specs.schema.WorkloadSpec`), None for other studies."""
        return self.spec.workload

    @property
    def strategy(self) -> str:
        """The study's strategy, or its hardware family's default (:attr:`Family.default_strategy`)."""
        return self.spec.strategy or families.get(self.hardware.family).default_strategy

    @property
    def name(self) -> str:
        return self.spec.name or f"{self.model.name} on {self.hardware.name}"


def load_model(path: Path, dims: dict[str, int] | None = None) -> Network:
    """Load and flatten a model spec file, or import an ``.onnx`` graph (``dims``: its symbolic dimensions)."""
    if path.suffix == ".onnx":
        from .onnx_import import import_onnx
        spec = validate(ModelSpec, import_onnx(path, dims=dims), {}, str(path))
        return flatten(spec, {}, str(path))
    spec, lines = load(ModelSpec, path)
    return flatten(spec, lines, str(path))


def load_hardware(path: Path) -> Hardware:
    """Load a hardware spec file (its ``family`` picks the schema and the checks) and check it is usable."""
    data, lines = read_yaml(path)
    name = data.get("family") if isinstance(data, dict) else None
    if not isinstance(name, str) or name not in families.names():
        valid = ", ".join(families.names())
        raise SpecError(str(path), [SpecIssue(
            f"unknown hardware family {name!r}; valid: {valid}" if name is not None
            else f"required field is missing; valid families: {valid}", "family", line_of(("family",), lines) or 1)])
    family = families.get(name)
    hw = validate(family.spec, data, lines, str(path))
    issues = family.check(hw, lines)
    if issues:
        raise SpecError(str(path), issues)
    return hw


def resolve(ref: str, kind: str, base: Path | None) -> Path | None:
    """A spec reference is a path (relative to ``base``) when it ends in .yaml/.yml or has a slash; else a built-in name."""
    if ref.endswith((".yaml", ".yml", ".onnx")) or "/" in ref:
        path = Path(ref)
        return path if path.is_absolute() or base is None else base / path
    return builtin_path(kind, ref)


def is_file(path: Path) -> bool:
    """``path.is_file()``, False also for a path the system refuses to look up (a name too long, a NUL byte)."""
    try:
        return path.is_file()
    except (OSError, ValueError):
        return False


def _resolve_or_error(ref: str, kind: str, base: Path | None, file: str, field: str, lines: Lines) -> Path:
    path = resolve(ref, kind, base)
    if path is None:
        raise SpecError(file, [SpecIssue(f"no built-in {kind[:-1] if kind != 'hardware' else kind} named {ref!r}; "
                                         f"built-in: {', '.join(builtin_names(kind))}; or give a path to a .yaml file",
                                         field, line_of((field,), lines))])
    if not is_file(path):
        raise SpecError(file, [SpecIssue(f"file {str(path)!r} not found", field, line_of((field,), lines))])
    return path


def _check_compatible(model: Network, hw: Hardware, file: str, lines: Lines, field: str = "model") -> None:
    supported = families.get(hw.family).dtypes(hw)
    if model.dtype not in supported:
        raise SpecError(file, [SpecIssue(f"model {model.name!r} uses dtype {model.dtype!r}, which hardware {hw.name!r} "
                                         f"has no engine tiles, MAC rate or MAC energy for (supported: {', '.join(supported) or 'none'})",
                                         field, line_of((field,), lines))])


def check_execution(spec: StudySpec, hw: Hardware, file: str, lines: Lines) -> None:
    """The execution model must be one the hardware family offers (its :meth:`~accelplan.families.Family.execution`
    decides), the error naming the hardware, ``file`` and the line."""
    if spec.execution is None:
        return
    family = families.get(hw.family)
    try:
        family.execution(spec.execution)
    except SpecError:
        import difflib

        close = difflib.get_close_matches(str(spec.execution), [m.name for m in family.executions], n=1, cutoff=0.6)
        hint = f"; did you mean {close[0]}?" if close else ""
        raise SpecError(file, [SpecIssue(f"execution {spec.execution!r} does not apply to hardware {hw.name!r} "
                                         f"(family {hw.family}){hint}; valid: {family.execution_names()}",
                                         "execution", line_of(("execution",), lines))]) from None


def check_workload(spec: StudySpec, model: Network, file: str, lines: Lines) -> None:
    """A workload needs a model whose attention reads a KV cache, a context that holds the prompt and the generated
    tokens, and no other batch than its sequences in flight."""
    w = spec.workload
    if w is None:
        return
    if not any(getattr(nop.op, "kv_seq", None) is not None for nop in model.ops):
        raise SpecError(file, [SpecIssue(
            f"model {model.name!r} has no attention reading a KV cache (attention_qk/attention_pv with kv_seq), so "
            "it has no decode phase to serve; use a decode model (e.g. llama-7b-decode) or drop the workload",
            "workload", line_of(("workload",), lines))])
    if w.context is not None and w.context < w.prompt + w.generate:
        raise SpecError(file, [SpecIssue(
            f"context {w.context} cannot hold the prompt and the generated tokens ({w.prompt} + {w.generate} = "
            f"{w.prompt + w.generate}); give at least that, or leave it out", "workload.context",
            line_of(("workload", "context"), lines))])
    batch = spec.constraints.batch
    if batch is not None and batch != w.sequences:
        raise SpecError(file, [SpecIssue(
            f"batch {batch} differs from the workload's {w.sequences} sequences in flight (a decode step batches the "
            "sequences in flight); give one of them", "constraints.batch", line_of(("constraints", "batch"), lines))])


def check_strategy(spec: StudySpec, strategies: Collection[str] | None, file: str, lines: Lines) -> None:
    """The strategy must be one of ``strategies``: the strategy registry's names, passed in by the layer that knows
    them (specs import no solver); None checks nothing."""
    if strategies is not None and spec.strategy is not None and spec.strategy not in strategies:
        raise SpecError(file, [SpecIssue(f"unknown strategy {spec.strategy!r}; valid: {', '.join(strategies)}",
                                         "strategy", line_of(("strategy",), lines))])


def study_from_data(data: dict[str, Any], lines: Lines, file: str, base: Path | None,
                    strategies: Collection[str] | None = None) -> Study:
    """Validate a study mapping and load what it references (``strategies``: the names its strategy may take)."""
    spec = validate(StudySpec, data, lines, file)
    check_strategy(spec, strategies, file, lines)
    model = load_model(_resolve_or_error(spec.model, "models", base, file, "model", lines), spec.model_dims)
    hw = load_hardware(_resolve_or_error(spec.hardware, "hardware", base, file, "hardware", lines))
    _check_compatible(model, hw, file, lines)
    check_execution(spec, hw, file, lines)
    check_workload(spec, model, file, lines)
    return Study(spec, model, hw, file, load_reference(spec, model, hw, file, lines, base))


def load_reference(spec: StudySpec, model: Network, hw: Hardware, file: str, lines: Lines,
                   base: Path | None) -> Hardware | None:
    """The hardware ``spec.reference`` names (checked like the study's own), none for ``false``, else the
    family's reference when it runs the model's dtype (a default that cannot run it is left out, not an error)."""
    if spec.reference is False:
        return None
    if spec.reference is None:
        default = families.get(hw.family).reference
        if default is None:
            return None
        ref = load_hardware(builtin_path("hardware", default))
        return ref if model.dtype in families.get(ref.family).dtypes(ref) else None
    ref = load_hardware(_resolve_or_error(spec.reference, "hardware", base, file, "reference", lines))
    _check_compatible(model, ref, file, lines, "reference")
    return ref


def load_study(path: Path, strategies: Collection[str] | None = None) -> Study:
    """Load a study spec file and everything it references (paths relative to the study file)."""
    data, lines = read_yaml(path)
    return study_from_data(data, lines, str(path), path.parent, strategies)


def make_study(study_file: Path | None = None, *, model: str | None = None, hardware: str | None = None,
               strategies: Collection[str] | None = None, **overrides: Any) -> Study:
    """A study from a file, or from a model and hardware name/path; ``overrides`` replace its fields
    (``strategies``: the names its strategy may take, see :func:`check_strategy`)."""
    if study_file is not None:
        study = load_study(study_file, strategies)
        if model or hardware:
            data = study.spec.model_dump()
            for key, kind in (("model", "models"), ("hardware", "hardware")):  # keep the file's own paths valid
                path = resolve(data[key], kind, study_file.parent)
                if path is not None and is_file(path):
                    data[key] = str(path.resolve())
            data |= {k: v for k, v in (("model", model), ("hardware", hardware)) if v}
            study = study_from_data(data, {}, str(study_file), Path.cwd(), strategies)
    else:
        if not model or not hardware:
            raise SpecError("<command line>", [SpecIssue("give a study file, or both --model and --hardware")])
        refs = {}
        for key, kind, ref in (("model", "models", model), ("hardware", "hardware", hardware)):
            path = Path(ref)  # a file by its absolute path, so the run can be rebuilt from anywhere; a built-in by name
            refs[key] = str(path.resolve()) if path.suffix in (".yaml", ".yml") and is_file(path) else ref
        study = study_from_data(refs, {}, "<command line>", Path.cwd())
    if any(v is not None for v in overrides.values()):
        study = with_overrides(study, **overrides)
        check_strategy(study.spec, strategies, "<command line>", {})
    return study


def with_overrides(study: Study, **changes: Any) -> Study:
    """A copy of ``study`` with top-level or constraint fields replaced (``None`` values ignored)."""
    top = {k: v for k, v in changes.items() if v is not None and k in StudySpec.model_fields}
    cons = {k: v for k, v in changes.items() if v is not None and k in study.spec.constraints.__class__.model_fields}
    data = study.spec.model_dump() | top
    data["constraints"] = data["constraints"] | cons
    spec = validate(StudySpec, data, {}, "<command line>")
    check_execution(spec, study.hardware, "<command line>", {})
    if "reference" not in top:
        return replace(study, spec=spec)
    return replace(study, spec=spec, reference=load_reference(spec, study.model, study.hardware, "<command line>", {},
                                                              Path.cwd()))
