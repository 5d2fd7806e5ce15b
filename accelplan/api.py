"""The public workflow: load a study, plan it, write its outputs. The CLI only calls these."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import families
from .errors import SpecError, SpecIssue
from .families import build_problem
from .outputs import moved, staged_folder, write_atomic
from .plan import Plan, best_plan
from .plan_file import RunFacts, read_plan, write_plan
from .problem import Problem
from .reports.html import write_html
from .reports.markdown import write_report
from .solvers import solve
from .solvers.registry import AUTO, STRATEGY_CHOICES
from .specs import study as studies
from .specs.library import builtin_names
from .specs.loader import validate
from .specs.network import flatten
from .specs.schema import ModelSpec
from .specs.study import Study, resolve, with_overrides
# the light commands' functions, re-exported: accelplan.api is the one module a program needs
from .catalog import UserSpec, builtin_text, json_schema, library, load_sweep, user_specs, validate_file  # noqa: F401
from .sweeps import Comparison, ExecutionResult, Front, compare, compare_executions, merged_fronts, pareto_fronts

if TYPE_CHECKING:
    from .sweep.results import SweepResult
    from .sweep.spec import Sweep


@dataclass(frozen=True)
class Result:
    """A solved study: the tabulated problem, the plan and, when the study has a reference hardware, its plan."""

    study: Study
    problem: Problem
    plan: Plan
    reference: Plan | None = None


def make_study(study_file: Path | None = None, *, model: str | None = None, hardware: str | None = None,
               **overrides: Any) -> Study:
    """A study from a file, or from a model and hardware name/path; ``overrides`` replace its fields
    (:func:`accelplan.specs.study.make_study`, its strategy checked against the strategy registry)."""
    return studies.make_study(study_file, model=model, hardware=hardware, strategies=STRATEGY_CHOICES, **overrides)


def plan_study(study: Study, strategy: str | None = None, time_limit_s: float | None = None,
               seed: int | None = None, **options: Any) -> Result:
    """Tabulate the study and solve it with its (or the given) strategy, time limit and seed (``auto``, the default:
    the exact strategy :func:`accelplan.solvers.auto` picks for the problem).

    ``options`` go to the strategy (Optuna: ``trials``, ``storage``, ``study_name``, ``workers``); one it does not
    take is a :class:`~accelplan.errors.SolveError` naming the strategies that take it, raised
    before the study is tabulated.
    """
    from .solvers import strategy as lookup

    name = strategy or study.strategy
    if name != AUTO:  # auto's strategy is known once the study is tabulated (solve checks its options then)
        lookup(name).check_options(options)
    problem = build_problem(study)
    limit, seed = time_limit_s or study.spec.time_limit_s, study.spec.seed if seed is None else seed
    plan = solve(problem, name, limit, seed, **{k: v for k, v in options.items() if v is not None})
    if plan.solver.status == "infeasible":
        plan = replace(plan, solver=replace(plan.solver, message="; ".join(
            filter(None, (plan.solver.message, *binding_bounds(study, problem, limit, seed))))))
    return Result(study, problem, plan, reference_plan(study, time_limit_s))


def binding_bounds(study: Study, problem: Problem, time_limit_s: float, seed: int) -> list[str]:
    """Why no plan meets the study's bounds: for each bound (latency_max_ms, throughput_min), the best value any plan
    reaches under the others (one extra exact solve each, by ``auto``), and a hint where the bound looks given in
    the wrong unit (seconds for milliseconds)."""
    out = []
    if problem.latency_max_s is not None:
        best = solve(build_problem(study, objective="latency").with_latency_bound(None), "auto", time_limit_s, seed)
        if best.feasible and best.latency_ms > problem.latency_max_s * 1e3 * (1 + 1e-9):
            bound_ms = problem.latency_max_s * 1e3
            hint = (f" (given in seconds? latency_max_ms {bound_ms * 1e3:g} would allow it)"
                    if bound_ms < 1 <= bound_ms * 1e3 and best.latency_ms <= bound_ms * 1e3 else "")
            out.append(f"latency_max_ms {bound_ms:g} binds: the lowest latency of any plan is "
                       f"{best.latency_ms:.6g} ms{' (' + best.solver.status + ')' if best.solver.status != 'optimal' else ''}"
                       f"{hint}")
    if problem.throughput_min is not None:
        best = solve(replace(build_problem(study, objective="throughput"), throughput_min=None), "auto", time_limit_s,
                     seed)
        if best.feasible and best.throughput < problem.throughput_min * (1 - 1e-9):
            out.append(f"throughput_min {problem.throughput_min:g} binds: the highest throughput of any plan"
                       f"{' within latency_max_ms' if problem.latency_max_s is not None else ''} is "
                       f"{best.throughput:.6g} inferences/s")
    return out


def reference_plan(study: Study, time_limit_s: float | None = None) -> Plan | None:
    """The study's model at its batch (and workload) on its reference hardware (:attr:`Study.reference`),
    unconstrained, solved by the exact strategy ``auto`` picks; None when the study has no reference."""
    if study.reference is None:
        return None
    from .solvers import auto
    from .specs.schema import StudySpec

    spec = StudySpec(name=f"{study.model.name} on {study.reference.name}", model=study.spec.model,
                     hardware=study.reference.name, objective=study.spec.objective,
                     constraints={"batch": study.batch}, workload=study.spec.workload, seed=study.spec.seed)
    try:  # a served model at the same workload: the same sequences in flight, prompt and context
        problem = build_problem(Study(spec, study.model, study.reference, study.file))
    except SpecError as e:
        raise SpecError(e.file, [SpecIssue(f"the reference {study.reference.name}: {i.message}; name another "
                                           "(--reference, the study's reference) or none", "reference", i.line)
                                 for i in e.issues]) from None
    return solve(problem, auto(problem), time_limit_s or study.spec.time_limit_s, study.spec.seed)


def write_outputs(result: Result, out_dir: Path, run: RunFacts | None = None) -> list[Path]:
    """Replace ``out_dir`` with ``plan.yaml``, ``report.md`` and ``report.html`` in one step (see
    :func:`accelplan.outputs.staged_folder`); an infeasible plan never replaces a folder holding a feasible one.

    Returns the paths written, or ``[]`` when the folder was kept.
    """
    if not result.plan.feasible and _holds_feasible_plan(out_dir / "plan.yaml"):
        return []
    from .reports.batch_latency import batch_latency_markdown
    from .reports.reference import reference_markdown

    run = run or RunFacts.of(result.study)
    ref = result.reference if result.plan.feasible else None
    sections = [reference_markdown(result.plan, ref)] if ref is not None else []
    if result.plan.closed_form_latency_ms is not None:
        sections.append(batch_latency_markdown(result.plan))
    with staged_folder(out_dir) as d:
        written = [write_plan(result.plan, d / "plan.yaml", run),
                   write_report(result.plan, d / "report.md", result.problem, sections),
                   write_html(result.plan, d / "report.html", result.problem, reference=ref)]
    return moved(written, d, out_dir)


def _holds_feasible_plan(plan_file: Path) -> bool:
    try:
        return read_plan(plan_file).feasible
    except (SpecError, OSError):
        return False


def _keeps(out_dir: Path, found: bool) -> bool:
    """True when a run that ``found`` no plan must leave ``out_dir`` (an earlier run's outputs) as it is."""
    return not found and out_dir.exists() and any(out_dir.iterdir())


def compare_study(study: Study, strategies: Sequence[str], time_limit_s: float | None = None, seed: int | None = None,
                  progress: Callable[[str], None] | None = None) -> tuple[Problem, list[Comparison]]:
    """Run each strategy on the study's problem (see :func:`accelplan.sweeps.compare`)."""
    problem = build_problem(study)
    rows = compare(problem, strategies, time_limit_s or study.spec.time_limit_s,
                   study.spec.seed if seed is None else seed, progress)
    return problem, rows


def write_comparison(problem: Problem, rows: Sequence[Comparison], out_dir: Path, run: RunFacts | None = None) -> list[Path]:
    """Replace ``out_dir`` with ``compare.md``, ``compare.csv``, ``anytime.csv`` and ``anytime.png`` (each
    strategy's best objective and bound over time) and, for the best plan found, ``plan.yaml``,
    ``report.md`` and ``report.html`` in one step; kept (``[]``) when no strategy found a plan."""
    from .reports.compare import anytime_csv, anytime_png, comparison_csv, comparison_markdown

    best = best_plan(problem.objective.name, (row.plan for row in rows))
    if _keeps(out_dir, best is not None):
        return []
    table = comparison_markdown(rows, problem.objective.name)
    with staged_folder(out_dir) as d:
        written = [write_atomic(d / "compare.md", f"# Strategies on {problem.name}\n\n{table}\n\n"
                                "![best objective and bound over time](anytime.png)\n"),
                   write_atomic(d / "compare.csv", comparison_csv(rows)),
                   write_atomic(d / "anytime.csv", anytime_csv(rows)),
                   write_atomic(d / "anytime.png", anytime_png(rows, problem.objective.name,
                                                               f"Strategies on {problem.name}"))]
        if best is not None:
            written += [write_plan(best, d / "plan.yaml", run and replace(run, strategy=best.solver.strategy)),
                        write_report(best, d / "report.md", problem, [f"## Strategies compared\n\n{table}"]),
                        write_html(best, d / "report.html", problem, comparison=rows)]
    return moved(written, d, out_dir)


def execution_names(study: Study, names: Sequence[str] | None = None) -> list[str]:
    """The execution models of the study's hardware family, or those of ``names`` (each one checked by the family's
    :meth:`~accelplan.families.Family.execution`)."""
    family = families.get(study.hardware.family)
    if not names:
        return [m.name for m in family.executions]
    unknown = []
    for name in names:
        try:
            family.execution(name)
        except SpecError:
            unknown.append(name)
    if unknown:
        raise SpecError("<command line>", [SpecIssue(
            f"{', '.join(map(repr, unknown))} not an execution model of {study.hardware.family}; valid: "
            f"{family.execution_names()} (comma-separated for several)", "--execution")])
    return list(dict.fromkeys(names))


def compare_execution_study(study: Study, strategy: str = "auto", time_limit_s: float | None = None, seed: int | None = None,
                            progress: Callable[[str], None] | None = None,
                            executions: Sequence[str] | None = None) -> list[ExecutionResult]:
    """The best plan of the study's model and hardware under each execution model of its hardware family
    (or each of ``executions``), then the plan on the study's reference hardware when it has one."""
    problems = {name: build_problem(study, execution=name) for name in execution_names(study, executions)}
    return compare_executions(problems, strategy, time_limit_s or study.spec.time_limit_s,
                              study.spec.seed if seed is None else seed, progress, reference_plan(study, time_limit_s))


def write_execution_comparison(study: Study, rows: Sequence[ExecutionResult], out_dir: Path,
                               run: RunFacts | None = None) -> list[Path]:
    """Replace ``out_dir`` with ``compare-execution.md``/``.csv`` and, per execution model, ``<execution>/plan.yaml``,
    ``report.md``, ``report.html`` in one step (the reference hardware's reports in ``reference-<hardware>/``);
    kept (``[]``) when no execution model has a plan."""
    from .reports.compare import executions_csv, executions_markdown

    if _keeps(out_dir, any(r.plan is not None and r.plan.feasible and not r.reference for r in rows)):
        return []
    table = executions_markdown(rows)
    with staged_folder(out_dir) as d:
        written = [write_atomic(d / "compare-execution.md", f"# Execution models: {study.name}\n\n{table}"),
                   write_atomic(d / "compare-execution.csv", executions_csv(rows))]
        for row in rows:
            if row.plan is not None and row.plan.feasible:
                folder = d / row.folder
                if not row.reference:  # a reference's plan is not a deployment of this study: reports only
                    written.append(write_plan(row.plan, folder / "plan.yaml",
                                              run and replace(run, strategy=row.plan.solver.strategy)))
                written += [write_report(row.plan, folder / "report.md", None, [f"## Execution models compared\n\n{table}"]),
                            write_html(row.plan, folder / "report.html")]
    return moved(written, d, out_dir)


def pareto_study(study: Study, strategy: str = "auto", points: int = 8, time_limit_s: float | None = None,
                 seed: int | None = None, progress: Callable[[str], None] | None = None,
                 executions: Sequence[str] | None = None,
                 batches: Sequence[int] | None = None) -> tuple[Problem, list[Front]]:
    """Latency-throughput fronts of the family's execution models, or of ``executions`` (see
    :func:`accelplan.sweeps.pareto_fronts`); with ``batches``, each execution model's front over those batch sizes
    (:func:`accelplan.sweeps.merged_fronts`)."""
    if batches and len(batches) > 1:
        runs = [pareto_study(with_overrides(study, batch=b), strategy, points, time_limit_s, seed, progress,
                             executions) for b in batches]
        return runs[-1][0], merged_fronts([fronts for _, fronts in runs])
    if batches:
        study = with_overrides(study, batch=batches[0])
    names = execution_names(study, executions)
    if executions:
        study = with_overrides(study, execution=names[0])
    problem = build_problem(study)
    if not problem.form.has_front:  # refused by pareto_fronts: tabulate nothing more
        names = []
    problems = {name: problem if name == problem.execution.name and problem.objective == "throughput"
                else build_problem(study, execution=name, objective="throughput") for name in names} or {
        problem.execution.name: problem}
    fronts = pareto_fronts(problems, strategy, max_points=points, time_limit_s=time_limit_s or study.spec.time_limit_s,
                           seed=study.spec.seed if seed is None else seed, progress=progress)
    return problem, fronts


def write_pareto(problem: Problem, fronts: Sequence[Front], out_dir: Path, run: RunFacts | None = None) -> list[Path]:
    """Replace ``out_dir`` with ``pareto.csv``, ``pareto.png``, every point's plan under ``pareto/``, ``report.md``
    and ``report.html`` in one step; kept (``[]``) when no front has a point."""
    from .reports.pareto import pareto_csv, pareto_markdown, pareto_png, plan_file_name

    if _keeps(out_dir, any(f.points for f in fronts)):
        return []
    with staged_folder(out_dir) as d:
        written = [write_atomic(d / "pareto.csv", pareto_csv(fronts)),
                   write_atomic(d / "pareto.png", pareto_png(fronts, f"{problem.model} on {problem.hardware}"))]
        for front in fronts:
            for i, point in enumerate(front.points):
                written.append(write_plan(point.plan, d / plan_file_name(front.execution, i),
                                          run and replace(run, strategy=point.strategy)))
        widest = next((f for f in reversed(fronts) if f.points), None)
        if widest is not None:
            best = max(widest.points, key=lambda q: q.throughput).plan
            written.append(write_report(best, d / "report.md", problem, [pareto_markdown(fronts)]))
            written.append(write_html(best, d / "report.html", problem, fronts=fronts))
    return moved(written, d, out_dir)


def import_model(onnx_file: Path, out_file: Path, batch: int = 1, dims: dict[str, int] | None = None,
                 lump: bool = False, name: str | None = None, dtype: str = "int8") -> tuple[Path, int]:
    """Import an ONNX graph and write it as a model spec YAML; returns the path and the operator count."""
    from .specs.onnx_import import import_onnx, model_yaml

    data = import_onnx(onnx_file, batch=batch, dims=dims, lump=lump, name=name, dtype=dtype)
    flatten(validate(ModelSpec, data, {}, str(onnx_file)), {}, str(onnx_file))  # the written spec is valid
    return write_atomic(out_file, f"# imported from {onnx_file.name}\n" + model_yaml(data)), len(data["operators"])


def emit_plan(plan_file: Path, target: str, out_dir: Path, weights_file: Path | None = None,
              dims: dict[str, int] | None = None) -> list[Path]:
    """Read ``plan.yaml`` and write its ``target`` deployment config (json, vitis, sv, rtl) into ``out_dir``; with
    ``weights_file`` (an ONNX graph, its symbolic dimensions set by ``dims``) the rtl target's weight memories hold
    its initialisers, quantised, instead of seeded random values."""
    from .emitters import emit

    plan = read_plan(plan_file)
    weights = None
    if weights_file is not None:
        from .specs.onnx_import import onnx_weights

        if weights_file.suffix != ".onnx":
            raise SpecError(str(weights_file), [SpecIssue("expected an ONNX graph (.onnx) whose initialisers are the "
                                                          "model's weights", "--weights")])
        weights = onnx_weights(weights_file, dims)
    return emit(plan, target, out_dir, plan_file=plan_file, weights=weights)


def calibrate(measurements: Path, hardware: str, out_file: Path, fit: Sequence[str] | None = None):
    """Fit ``hardware``'s efficiency and overhead constants to the rows of ``measurements`` and write the result.

    ``hardware`` is a built-in name or a path; the calibrated spec (named ``<name>-calibrated``) is
    written atomically to ``out_file`` once it validates as a hardware spec. Returns the
    :class:`~accelplan.calibrate.Calibration` (every row before and after) and the path written.
    """
    import yaml

    from . import calibrate as cal
    from .specs.loader import validate as validate_spec
    from .specs.study import load_hardware

    hw_path = resolve(hardware, "hardware", Path.cwd())
    if hw_path is None or not hw_path.is_file():
        what = f"no built-in hardware named {hardware!r}" if hw_path is None else f"file {str(hw_path)!r} not found"
        raise SpecError("<command line>", [SpecIssue(f"{what}; built-in: {', '.join(builtin_names('hardware'))}",
                                                     "--hardware")])
    hw = load_hardware(hw_path)
    family = families.get(hw.family)
    model = family.calibration()
    if model is None:
        able = [n for n in families.names() if families.get(n).calibration() is not None]
        raise SpecError(str(hw_path), [SpecIssue(f"family {hw.family!r} has no calibration model; families with one: "
                                                 f"{', '.join(able) or 'none'}", "family")])
    if out_file.is_dir():
        raise SpecError(str(out_file), [SpecIssue("is a folder: give the hardware spec file to write", "-o")])
    rows = cal.read_measurements(measurements, model, hw)
    result = cal.calibrate(hw, rows, model, fit)
    text = cal.calibrated_yaml(hw_path, result, model, measurements)
    validate_spec(family.spec, yaml.safe_load(text), {}, str(out_file))
    return result, write_atomic(out_file, text)


@dataclass(frozen=True)
class SweepRun:
    """A finished sweep: its rows and the files written into its folder."""

    result: "SweepResult"
    written: list[Path]


def sweep(sweep_spec: "Sweep | Path", out_dir: Path, workers: int | None = None, scheduler: str | None = None,
          cache_dir: Path | None = None, progress: Callable[[str], None] | None = None) -> SweepRun:
    """Solve every point of ``sweep_spec`` (a :class:`~accelplan.sweep.spec.Sweep` or a sweep file) on Dask (an embedded
    LocalCluster of ``workers`` processes, or the scheduler at ``scheduler``), reading and storing finished points in
    ``cache_dir`` (default ``<out_dir>/../.sweep-cache``), then replace ``out_dir`` with ``sweep.csv``, ``best.csv``,
    ``pareto.csv``, ``sweep.png``, ``report.md`` and every point's ``points/<id>/plan.yaml`` in one step (kept as it
    is when no point has a plan and it holds an earlier run's outputs)."""
    from .reports.sweep import best_csv, pareto_csv, plan_file_name, sweep_csv, sweep_markdown, sweep_png
    from .sweep.cache import PointCache
    from .sweep.run import run_sweep

    spec = load_sweep(Path(sweep_spec)) if isinstance(sweep_spec, (str, Path)) else sweep_spec
    cache = PointCache(cache_dir if cache_dir is not None else Path(out_dir).parent / ".sweep-cache")
    result = run_sweep(spec, cache, workers, scheduler, progress)
    if _keeps(out_dir, result.found):  # no point has a plan: an earlier run's outputs stay
        return SweepRun(result, [])
    runs = {p.id: p.run for p in spec.points}
    with staged_folder(out_dir) as d:
        written = [write_atomic(d / "sweep.csv", sweep_csv(result)), write_atomic(d / "best.csv", best_csv(result)),
                   write_atomic(d / "pareto.csv", pareto_csv(result)), write_atomic(d / "sweep.png", sweep_png(result)),
                   write_atomic(d / "report.md", sweep_markdown(result))]
        for row in result.rows:  # plan files rendered by the workers, else here
            if row.plan is not None:
                path = d / plan_file_name(row.id)
                written.append(write_atomic(path, row.plan_yaml) if row.plan_yaml is not None
                               else write_plan(row.plan, path, runs[row.id]))
    return SweepRun(result, moved(written, d, out_dir))


def simulate(plan_file: Path) -> Any:
    """Replay a plan file event by event beside its analytical figures (:mod:`accelplan.simulate`): the study its
    ``run`` block names is loaded and tabulated again, so both read the same per-layer tables. Returns a
    :class:`~accelplan.simulate.result.PlanSimulation`."""
    from .simulate.result import simulate_source
    from .simulate.source import load

    return simulate_source(load(Path(plan_file)))


def write_simulation(result: Any, out_dir: Path) -> list[Path]:
    """Replace ``out_dir`` with ``simulate.md``, ``simulate.json`` and ``trace.json`` (Trace Event Format) in one step."""
    from .outputs import json_text
    from .reports.simulate import simulation_json, simulation_markdown

    with staged_folder(out_dir) as d:
        written = [write_atomic(d / "simulate.md", simulation_markdown(result)),
                   write_atomic(d / "simulate.json", json_text(simulation_json(result)) + "\n"),
                   write_atomic(d / "trace.json", json_text(result.trace()) + "\n")]
    return moved(written, d, out_dir)


@dataclass(frozen=True)
class CodesignOutput:
    """A co-design run: the spec, how the run went, every trial's row, the front, importances and files written."""

    codesign: Any
    run: Any
    rows: list[Any]
    front: list[Any]
    importances: dict[str, dict[str, float]]
    written: list[Path]


def codesign(spec_file: Path, out_dir: Path, storage: str | None = None, workers: int | None = None,
             scheduler: str | None = None, cache_dir: Path | None = None, trials: int | None = None,
             progress: Callable[[str], None] | None = None) -> CodesignOutput:
    """Run (or resume) the co-design study of ``spec_file`` (:mod:`accelplan.codesign`): Optuna's study in ``storage``
    (default: the journal file ``<out_dir>/../codesign.log``), solved candidates in ``cache_dir`` (default
    ``<out_dir>/../.codesign-cache``), until it holds ``trials`` (default: the spec's) finished trials; then replace
    ``out_dir`` with ``trials.csv``, ``front.csv``, ``front.png``, ``importances.csv``, ``report.md`` and each front
    point's ``front/<trial>/hardware.yaml`` and ``plan.yaml``, in one step."""
    import yaml

    from .codesign import report
    from .codesign.results import front, importances, rows
    from .codesign.run import check_trials, default_storage, run_codesign
    from .codesign.spec import candidate, load_codesign
    from .sweep.cache import PointCache
    from .sweep.run import PointTask, solve_point

    check_trials(trials)
    spec = load_codesign(Path(spec_file))
    parent = Path(out_dir).parent
    parent.mkdir(parents=True, exist_ok=True)
    store = storage or default_storage(parent)
    cache = PointCache(cache_dir if cache_dir is not None else parent / ".codesign-cache")
    run = run_codesign(spec, store, cache, workers, scheduler, progress, trials)
    all_rows = rows(run.study)
    points = front(spec, all_rows)
    found = importances(spec, run.study)
    with staged_folder(out_dir) as d:
        written = [write_atomic(d / "trials.csv", report.trials_csv(spec, all_rows)),
                   write_atomic(d / "front.csv", report.front_csv(spec, all_rows)),
                   write_atomic(d / "importances.csv", report.importances_csv(found)),
                   write_atomic(d / "front.png", report.front_png(spec, all_rows)),
                   write_atomic(d / "report.md", report.markdown(spec, all_rows, found, run))]
        for row in points:
            cand = candidate(spec, row.params, row.number)
            outcome = cache.get(cand.key)
            if outcome is None or outcome.plan is None:  # the cache was cleared: solve the front point again
                outcome = solve_point(PointTask(cand.study, spec.strategy, spec.time_limit_s, spec.seed, cand.run))
            written.append(write_atomic(d / report.hardware_file(row.number),
                                        yaml.safe_dump(cand.hardware_data, sort_keys=False)))
            if outcome.plan is not None:
                path = d / report.plan_file(row.number)
                written.append(write_atomic(path, outcome.plan_yaml) if outcome.plan_yaml is not None and
                               outcome.run == cand.run else write_plan(outcome.plan, path, cand.run))
    return CodesignOutput(spec, run, all_rows, points, found, moved(written, d, out_dir))
