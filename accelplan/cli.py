"""Command line: ``accelplan solve|sweep|compare|compare-execution|pareto|import|emit|validate|schema|list|show|calibrate|simulate``. Parsing and printing only.

Every command that solves writes its own folder under ``-o``: ``<out>/solve/``, ``<out>/compare/``,
``<out>/pareto/``, ``<out>/compare-execution/``, ``<out>/sweep/``; the folder is checked before anything is solved and
replaced as a whole once the run is done (:mod:`accelplan.outputs`).

Choices (strategies, their options, objectives, emit targets) come from the registries; the
workflow module and every backend are imported only when a command needs them, so ``--help``,
``list``, ``validate`` and ``schema`` load no solver.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from . import __version__
from .errors import AccelplanError, SpecError, SpecIssue
from .objective import OBJECTIVES
from .solvers.registry import AUTO, OPTIONS, STRATEGIES, STRATEGY_CHOICES, Feature, exact_names, with_feature

if TYPE_CHECKING:
    from .specs.study import Study

EMIT_TARGETS = ("json", "rtl", "sv", "vitis")  # accelplan.emitters.EMITTERS, named here to keep --help light
SPEC_KINDS = ("hardware", "model", "study")
SCHEMA_KINDS = (*SPEC_KINDS, "sweep", "codesign", "plan")  # accelplan.catalog.json_schema's kinds


def _per_family(value: Callable) -> str:
    from .specs.check import per_family

    return per_family(value)


#: what help texts say of the families, read from the registry when help is printed (a family is imported to list
#: its execution models: a command that prints no help imports none)
FROM_REGISTRIES: dict[str, Callable[[], str]] = {
    "{executions}": lambda: _per_family(lambda f: ", ".join(m.name for m in f.executions)),
    "{default_strategies}": lambda: _per_family(lambda f: f.default_strategy),
    "{references}": lambda: _per_family(lambda f: f.reference) or "none",
    "{accelerator_words}": lambda: _per_family(lambda f: f.words.accelerators),
}


class _HelpFormatter(argparse.HelpFormatter):
    """Fills the ``FROM_REGISTRIES`` fields of a help text when it is printed."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = super()._get_help_string(action) or ""
        for field, fill in FROM_REGISTRIES.items():
            if field in text:
                text = text.replace(field, fill())
        return text


STUDY_DEFAULT = " (default: the study's, else the hardware family's)"


def _close(word: str, choices: Iterable[str]) -> str:
    """``"; did you mean X?"`` for the choice nearest a misspelt ``word`` (difflib), or ``""``."""
    import difflib

    match = difflib.get_close_matches(word, [str(c) for c in choices], n=1, cutoff=0.6)
    return f"; did you mean {match[0]}?" if match else ""


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors suggest the nearest flag or choice, and name the subcommand's usage."""

    def _check_value(self, action: argparse.Action, value: object) -> None:
        if action.choices is not None and value not in action.choices:
            raise argparse.ArgumentError(action, f"invalid choice: {value!r}{_close(str(value), action.choices)} "
                                                 f"(choose from {', '.join(map(str, action.choices))})")

    def parse_args(self, args=None, namespace=None):  # type: ignore[override]
        parsed, extras = self.parse_known_args(args, namespace)
        if extras:  # reported by the subcommand that was given them, with its flags as suggestions
            sub = next((a.choices.get(getattr(parsed, a.dest, None)) for a in self._actions
                        if isinstance(a, argparse._SubParsersAction)), None) or self
            flags = [f for a in sub._actions for f in a.option_strings]
            hints = "".join(_close(x.split("=", 1)[0], flags) for x in extras if x.startswith("-"))
            sub.error(f"unrecognized arguments: {' '.join(extras)}{hints}")
        return parsed


def _batches(text: str) -> list[int]:
    """``--batch`` of pareto: comma-separated batch sizes."""
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: comma-separated whole numbers, e.g. 1,2,4,8,16") from None
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: batch sizes of at least 1, e.g. 1,2,4,8,16")
    return sorted(set(values))


def _study_args(p: argparse.ArgumentParser,
                execution_help: str = "an execution model of the hardware's family ({executions})" + STUDY_DEFAULT,
                batches: bool = False) -> None:
    """Arguments naming a study and overriding its fields (shared by solve, compare and pareto); ``execution_help``
    ends with its one default; ``batches``: --batch takes several sizes (pareto)."""
    study = STUDY_DEFAULT
    p.add_argument("study", nargs="?", type=Path, help="study YAML (or use --model and --hardware)")
    p.add_argument("--model", help="built-in model name or model YAML path (default: the study's)")
    p.add_argument("--hardware", help="built-in hardware name or hardware YAML path (default: the study's)")
    p.add_argument("--execution", help=execution_help)
    p.add_argument("--objective", choices=list(OBJECTIVES), help="objective (default: the study's, else throughput)")
    p.add_argument("--latency-max", type=float, dest="latency_max_ms", metavar="MS",
                   help="latency bound (ms) (default: the study's, else none)")
    p.add_argument("--throughput-min", type=float, metavar="PER_S",
                   help="throughput bound (inferences/s) (default: the study's, else none)")
    if batches:
        p.add_argument("--batch", type=_batches, metavar="B[,B...]", help="batch sizes, comma-separated: each "
                       "execution model's front over all of them (default: the study's, else the model's)")
    else:
        p.add_argument("--batch", type=int, help="inferences per batch (default: the study's, else the model's)")
    p.add_argument("--max-accelerators", type=int, help="most accelerators (per segment where a plan has segments), as "
                   "each family counts them: {accelerator_words}" + study)
    p.add_argument("--time-limit", type=float, dest="time_limit_s", metavar="S",
                   help="time limit per solve (s) (default: the study's, else 60)")
    p.add_argument("--seed", type=int, help="random seed, repeatable runs (default: the study's, else 0)")
    _output_args(p)


JSON_HELP = "print strict JSON on stdout and nothing else; NaN/infinite numbers are null (default: off)"


def _output_args(p: argparse.ArgumentParser,
                 out_help: str = "output folder; the command writes its own subfolder <out>/<command>/",
                 json_help: str = JSON_HELP) -> None:
    """-o/--out, --json and --quiet, which every command that solves or replays takes."""
    p.add_argument("-o", "--out", type=Path, default=Path("out"), help=out_help + " (default: %(default)s)")
    p.add_argument("--json", action="store_true", help=json_help)
    p.add_argument("--quiet", action="store_true", help="print nothing but errors (and --json) (default: off)")


def _reference(value: str) -> str | bool:
    """--reference: a hardware name or path; 'none' is the study field's false."""
    return False if value.lower() == "none" else value


def _reference_arg(p: argparse.ArgumentParser) -> None:
    """--reference (solve and compare-execution, whose reports show the reference's plan)."""
    p.add_argument("--reference", type=_reference, metavar="HARDWARE",
                   help="hardware to compare the plan with (built-in name or YAML path, e.g. a100; 'none' for none) "
                        "(default: the study's, else the family's: {references})")


def _parser() -> argparse.ArgumentParser:
    ap = _Parser(prog="accelplan", description="Plan DNN inference deployments on accelerators.",
                 formatter_class=_HelpFormatter)
    ap.add_argument("--version", action="version", version=f"accelplan {__version__}")
    sub = ap.add_subparsers(dest="command", required=True,
                            parser_class=partial(_Parser, formatter_class=_HelpFormatter))

    s = sub.add_parser("solve", help="find the best plan for a study")
    _study_args(s)
    _reference_arg(s)
    s.add_argument("--strategy", choices=list(STRATEGY_CHOICES),
                   help="auto: the fastest exact strategy that covers the problem (default: the study's, else the "
                        "hardware family's: {default_strategies})")
    for option in (o for o in OPTIONS.values() if o.cli):
        s.add_argument("--" + option.name.replace("_", "-"), dest=option.name, type=option.type, metavar=option.metavar,
                       help=option.help if "default" in option.help else option.help + " (default: none)")

    c = sub.add_parser("compare", help="run several strategies on one study and tabulate them")
    _study_args(c)
    c.add_argument("--strategies", default=",".join(s.name for s in STRATEGIES.values() if s.compare_by_default),
                   help=f"comma-separated, from: {', '.join(STRATEGIES)} (default: %(default)s)")

    p = sub.add_parser("pareto", help="latency-throughput fronts of the execution models of the hardware's family")
    _study_args(p, "comma-separated execution models of the hardware's family ({executions}) "
                   "(default: every execution model of the family)", batches=True)
    multi = with_feature(Feature.MULTI_OBJECTIVE)
    p.add_argument("--strategy", default=AUTO, choices=[AUTO, *exact_names(), *multi],
                   help=f"exact sweep (auto: the fastest exact strategy per execution model) or a multi-objective "
                        f"search's front ({', '.join(multi)}) (default: %(default)s)")
    p.add_argument("--points", type=int, default=8, help="most points per exact front (default: %(default)s)")

    x = sub.add_parser("compare-execution", help="the best plan under each execution model of the hardware's family")
    _study_args(x, "comma-separated execution models of the hardware's family ({executions}) "
                   "(default: every execution model of the family)")
    _reference_arg(x)
    x.add_argument("--strategy", default=AUTO, choices=list(STRATEGY_CHOICES),
                   help="strategy for every solve (auto: the fastest exact strategy per execution model) "
                        "(default: %(default)s)")

    sw = sub.add_parser("sweep", help="solve every point of a design-space sweep on Dask (grid and/or list of studies)")
    sw.add_argument("sweep", type=Path, help="sweep YAML (e.g. specs/sweeps/bert-base_vck190.yaml)")
    sw.add_argument("--workers", type=_positive, metavar="N",
                    help="worker processes of the embedded Dask LocalCluster, one thread each (default: one per core)")
    sw.add_argument("--scheduler", metavar="ADDRESS",
                    help="a running Dask scheduler to use instead, e.g. tcp://HOST:8786 (default: none)")
    sw.add_argument("--cache", type=Path, metavar="DIR",
                    help="folder of finished points, reused by later runs (default: <out>/.sweep-cache)")
    _output_args(sw, "output folder; the sweep writes <out>/sweep/",
                 "print the points as one strict JSON array on stdout (an object per point) and nothing else "
                 "(default: off)")
    _codesign_args(sub)  # accelplan codesign (below COMMANDS)

    si = sub.add_parser("simulate", help="replay a plan event by event beside its analytical latency, throughput "
                                         "and busy fractions; writes simulate.md and a Perfetto trace")
    si.add_argument("plan", type=Path, help="plan.yaml written by solve, compare or pareto (e.g. out/solve/plan.yaml)")
    _output_args(si, "output folder; the command writes <out>/simulate/")

    im = sub.add_parser("import", help="import an ONNX model as a model spec YAML")
    im.add_argument("onnx", type=Path, help="ONNX file")
    im.add_argument("-o", "--out", type=Path, required=True, help="model spec to write, e.g. specs/models/name.yaml")
    im.add_argument("--batch", type=int, default=1, help="the spec's default batch (shapes are per inference) (default: %(default)s)")
    im.add_argument("--dim", action="append", default=[], metavar="NAME=VALUE", help="value of a symbolic dimension, repeatable (default: none)")
    im.add_argument("--lump", action="store_true", help="price unsupported operators as element-wise passes (default: off)")
    im.add_argument("--name", help="model name (default: the ONNX file's name without .onnx)")
    im.add_argument("--dtype", default="int8", help="deployment data type (default: %(default)s)")

    e = sub.add_parser("emit", help="write a plan's deployment config for a build flow")
    e.add_argument("plan", type=Path, help="plan.yaml written by solve, compare or pareto (e.g. out/solve/plan.yaml)")
    e.add_argument("--target", required=True, choices=EMIT_TARGETS, help=" | ".join(EMIT_TARGETS))
    e.add_argument("-o", "--out", type=Path, default=Path("build"), help="output folder (default: %(default)s)")
    e.add_argument("--weights", type=Path, metavar="MODEL.onnx",
                   help="rtl: fill the weight memories with this ONNX graph's initialisers, quantised per tensor to "
                        "the plan's data type (default: seeded random values)")
    e.add_argument("--dim", action="append", default=[], metavar="NAME=VALUE",
                   help="with --weights: a symbolic dimension of the ONNX graph, repeatable (default: none)")

    v = sub.add_parser("validate", help="check spec or plan files; errors name file, line and field")
    v.add_argument("files", nargs="+", type=Path, help="model, hardware, study or sweep YAML, or a plan.yaml")

    sc = sub.add_parser("schema", help="print the JSON Schema of a spec kind or of plan.yaml")
    sc.add_argument("kind", choices=SCHEMA_KINDS, help=" | ".join(SCHEMA_KINDS))

    ls = sub.add_parser("list", help="list built-in models, hardware and studies, and the spec files of a folder")
    ls.add_argument("folder", nargs="?", type=Path, default=Path("."),
                    help="folder whose spec files (and its subfolders' to depth 2) are listed as yours "
                         "(default: %(default)s)")

    ca = sub.add_parser("calibrate", help="fit a hardware spec's efficiency and overhead constants to measured runs")
    ca.add_argument("measurements", type=Path, help="CSV of measured runs (e.g. specs/measurements/vck190.csv)")
    ca.add_argument("--hardware", required=True, help="built-in hardware name or hardware spec path")
    ca.add_argument("-o", "--out", type=Path, required=True, help="calibrated hardware spec to write (YAML)")
    ca.add_argument("--fit", help="comma-separated constants to fit (default: every constant of the family the rows "
                                  "can determine; the others are left as they are)")

    sh = sub.add_parser("show", help="print a built-in spec (model, hardware or study) as YAML")
    sh.add_argument("name", help="a name from `accelplan list`")
    sh.add_argument("--kind", choices=SPEC_KINDS, help="which kind, when a name is of several (default: any)")
    return ap


def _executions(args: argparse.Namespace) -> list[str] | None:
    """``--execution`` as a list (pareto and compare-execution take several, comma-separated)."""
    return [n.strip() for n in args.execution.split(",") if n.strip()] if args.execution else None


def _out_dir(args: argparse.Namespace) -> Path:
    """The command's own folder under ``-o``, checked before anything is solved."""
    from .outputs import check_out_dir

    check_out_dir(args.out, replaced=False)
    return check_out_dir(args.out / args.command)


@contextmanager
def _quiet_stdout(args: argparse.Namespace) -> Iterator[None]:
    """Under --json, everything but the JSON (a solver's log too) goes to stderr."""
    if not args.json:
        yield
        return
    from .outputs import stdout_to_stderr

    with stdout_to_stderr():
        yield


def _print_json(data: object) -> None:
    from .outputs import json_text

    print(json_text(data))


def _wrote(args: argparse.Namespace, folder: Path, written: list[Path], found: bool) -> None:
    """Say what was written, or that the folder was kept (on stderr when --json)."""
    if args.quiet:
        return
    if written:
        text = f"wrote {len(written)} files in {folder}/: " + ", ".join(str(p.relative_to(folder)) for p in written[:8])
        text += ", ..." if len(written) > 8 else ""
    else:
        text = f"{folder}/ kept as it was: {'no plan found' if not found else 'nothing to write'}; it holds an earlier run's plan"
    print(text, file=sys.stderr if args.json else sys.stdout)


def _study(args: argparse.Namespace, execution: str | None = None, **extra) -> "Study":
    from . import api

    return api.make_study(args.study, model=args.model, hardware=args.hardware, execution=execution,
                          objective=args.objective, latency_max_ms=args.latency_max_ms,
                          throughput_min=args.throughput_min, batch=args.batch if isinstance(args.batch, int) else None,
                          max_accelerators=args.max_accelerators, time_limit_s=args.time_limit_s, seed=args.seed,
                          reference=getattr(args, "reference", None), **extra)


@contextmanager
def _progress(args: argparse.Namespace, what: str, total: int | None) -> Iterator[Callable[[str], None]]:
    """A rich progress bar on a terminal's stderr; nothing when piped, with --quiet or with --json.

    The callback is called with the name of each item as it starts.
    """
    if args.quiet or args.json or not sys.stderr.isatty():
        yield lambda name: None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    columns = [SpinnerColumn(), TextColumn("{task.description}"), BarColumn()]
    columns += [MofNCompleteColumn()] if total else []
    with Progress(*columns, TimeElapsedColumn(), console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task(what, total=total)
        started = []

        def step(name: str) -> None:
            if started:
                bar.advance(task)
            started.append(name)
            bar.update(task, description=f"{what}: {name}")
        yield step


def _solve(args: argparse.Namespace) -> int:
    from . import api
    from .reports.summary import summary_json, summary_table

    folder = _out_dir(args)
    study = _study(args, args.execution, strategy=args.strategy)
    options = {name: getattr(args, name) for name, o in OPTIONS.items() if o.cli}
    with _progress(args, f"{study.strategy} on {study.name} (limit {study.spec.time_limit_s:g} s)", None) as step, \
            _quiet_stdout(args):
        step(study.execution)
        result = api.plan_study(study, **options)
        written = api.write_outputs(result, folder)
    if args.json:
        _print_json(summary_json(result.plan, result.reference))
    elif not args.quiet:
        print(summary_table(result.plan, result.reference))
    _wrote(args, folder, written, bool(result.plan.accelerators))
    return 0 if result.plan.accelerators else 1


def _compare(args: argparse.Namespace) -> int:
    from . import api
    from .reports.compare import comparison_json, comparison_markdown

    folder = _out_dir(args)
    strategies = [s.strip() for s in args.strategies.split(",") if s.strip()]
    study = _study(args, args.execution)
    with _progress(args, "strategies", len(strategies)) as step, _quiet_stdout(args):
        problem, rows = api.compare_study(study, strategies, progress=step)
        written = api.write_comparison(problem, rows, folder, api.RunFacts.of(study, args.strategies))
    if args.json:
        _print_json(comparison_json(rows))
    elif not args.quiet:
        print(comparison_markdown(rows, problem.objective.name))
    found = any(r.plan is not None for r in rows)
    _wrote(args, folder, written, found)
    return 0 if found else 1


def _pareto(args: argparse.Namespace) -> int:
    from . import api
    from .reports.pareto import pareto_markdown, pareto_rows

    folder = _out_dir(args)
    study, executions = _study(args), _executions(args)
    total = len(api.execution_names(study, executions)) * len(args.batch or [1])
    with _progress(args, "Pareto fronts", total) as step, _quiet_stdout(args):
        problem, fronts = api.pareto_study(study, args.strategy, args.points, progress=step, executions=executions,
                                           batches=args.batch)
        written = api.write_pareto(problem, fronts, folder, api.RunFacts.of(study, args.strategy))
    if args.json:
        _print_json(pareto_rows(fronts))
    elif not args.quiet:
        print(pareto_markdown(fronts))
    found = any(f.points for f in fronts)
    _wrote(args, folder, written, found)
    return 0 if found else 1


def _compare_execution(args: argparse.Namespace) -> int:
    from . import api
    from .reports.compare import executions_json, executions_markdown

    folder = _out_dir(args)
    study, executions = _study(args), _executions(args)
    with _progress(args, "execution models", len(api.execution_names(study, executions))) as step, _quiet_stdout(args):
        rows = api.compare_execution_study(study, args.strategy, progress=step, executions=executions)
        written = api.write_execution_comparison(study, rows, folder, api.RunFacts.of(study, args.strategy))
    if args.json:
        _print_json(executions_json(rows))
    elif not args.quiet:
        print(executions_markdown(rows))
    found = any(r.plan is not None and r.plan.feasible for r in rows)
    _wrote(args, folder, written, found)
    return 0 if found else 1


def _positive(text: str) -> int:
    """An argparse type: an integer of at least 1."""
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return int(text)


def _sweep(args: argparse.Namespace) -> int:
    from . import api
    from .outputs import check_out_dir
    from .reports.sweep import point_rows, sweep_text

    folder = _out_dir(args)
    cache = check_out_dir(args.cache if args.cache is not None else args.out / ".sweep-cache", replaced=False)
    spec = api.load_sweep(args.sweep)
    with _progress(args, f"sweep {spec.name}", len(spec.points)) as step, _quiet_stdout(args):
        run = api.sweep(spec, folder, args.workers, args.scheduler, cache, progress=step)
    if args.json:
        _print_json(point_rows(run.result))
    elif not args.quiet:
        print(sweep_text(run.result))
    _wrote(args, folder, run.written, run.result.found)
    return 0 if run.result.found else 1


def _simulate(args: argparse.Namespace) -> int:
    from . import api
    from .reports.simulate import simulation_json, simulation_table

    folder = _out_dir(args)
    with _quiet_stdout(args):
        result = api.simulate(args.plan)
        written = api.write_simulation(result, folder)
    if args.json:
        _print_json(simulation_json(result))
    elif not args.quiet:
        print(simulation_table(result))
    _wrote(args, folder, written, True)
    return 0


def _dims(items: list[str]) -> dict[str, int]:
    """``--dim NAME=VALUE`` options as a mapping."""
    dims = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not value.isdigit() or int(value) < 1:
            raise SpecError("<command line>", [SpecIssue(f"--dim {item!r}: expected NAME=VALUE with a positive integer")])
        dims[key] = int(value)
    return dims


def _import(args: argparse.Namespace) -> int:
    from . import api

    path, count = api.import_model(args.onnx, args.out, args.batch, _dims(args.dim), args.lump, args.name, args.dtype)
    print(f"wrote {path} ({count} operators)")
    return 0


def _emit(args: argparse.Namespace) -> int:
    from . import api

    from .outputs import check_out_dir

    for path in api.emit_plan(args.plan, args.target, check_out_dir(args.out, replaced=False), args.weights,
                              _dims(args.dim)):
        print(f"wrote {path}")
    return 0


def _validate(args: argparse.Namespace) -> int:
    from . import catalog

    failed = 0
    for path in args.files:
        try:
            checked = catalog.check_file(path)
            plan = checked.plan
            if plan is not None:
                print(f"{path}: valid plan ({plan.model} on {plan.hardware}, {len(plan.accelerators)} accelerators, "
                      f"{'feasible' if plan.feasible else 'infeasible'})")
                continue
            print(f"{path}: valid {checked.kind} spec")
        except AccelplanError as exc:
            print(f"error: {exc}", file=sys.stderr)
            failed += 1
    return 2 if failed else 0


def _schema(args: argparse.Namespace) -> int:
    from . import catalog

    print(catalog.json_schema(args.kind))
    return 0


def _list(args: argparse.Namespace) -> int:
    from . import catalog

    print("built-in (accelplan show NAME prints one):")
    for kind, names in catalog.library().items():
        print(f"  {kind}: {', '.join(names) or '(none)'}")
    yours = catalog.user_specs(args.folder)
    print(f"your files in {args.folder}:" + ("" if yours else " (no model, hardware, study, sweep or plan YAML)"))
    for item in yours:
        print(f"  {item.kind}: {item.path}")
    return 0


def _calibrate(args: argparse.Namespace) -> int:
    from . import api

    fit = [name.strip() for name in args.fit.split(",") if name.strip()] if args.fit else None
    result, path = api.calibrate(args.measurements, args.hardware, args.out, fit)
    print(f"{'row':<24} {'measured ms':>12} {'before ms':>11} {'error':>8} {'after ms':>11} {'error':>8}  source")
    for row in result.rows:
        m = row.measurement
        print(f"{m.name:<24} {m.measured_s * 1e3:>12.4g} {row.before_s * 1e3:>11.4g} {row.error_before:>+8.1%} "
              f"{row.after_s * 1e3:>11.4g} {row.error_after:>+8.1%}  {m.source}")
    for name, value in result.after.items():
        print(f"{name}: {result.value_text(name, result.before[name])} -> {result.value_text(name, value)}")
    if result.left_out:
        print(f"left as they are (the rows cannot determine them; --fit names what to fit): {', '.join(result.left_out)}")
    print(f"wrote {path}")
    return 0


def _show(args: argparse.Namespace) -> int:
    from . import catalog

    sys.stdout.write(catalog.builtin_text(args.name, args.kind))
    return 0


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "solve": _solve, "sweep": _sweep, "compare": _compare, "pareto": _pareto, "compare-execution": _compare_execution,
    "simulate": _simulate,
    "import": _import, "emit": _emit, "validate": _validate, "schema": _schema, "list": _list, "show": _show,
    "calibrate": _calibrate}


# --- accelplan codesign (issue 27): Optuna over hardware candidates, each planned exactly (accelplan.codesign) ---
def _codesign_args(sub: argparse._SubParsersAction) -> None:
    cd = sub.add_parser("codesign", help="search hardware parameters with Optuna, each candidate planned exactly; "
                                         "Pareto front, importances, resumable")
    cd.add_argument("spec", type=Path, help="co-design YAML (e.g. specs/codesign/bert-base_vck190.yaml)")
    cd.add_argument("--storage", metavar="URL",
                    help="Optuna storage of the study: journal:///path.log, a path ending .log, sqlite:///x.db, "
                         "postgresql://user@host/db for drivers on several machines (default: <out>/codesign.log)")
    cd.add_argument("--trials", type=_positive, metavar="N",
                    help="finished trials the study should hold; a resumed run runs the rest (default: the spec's)")
    cd.add_argument("--workers", type=_positive, metavar="N",
                    help="solve candidates on an embedded Dask LocalCluster of N processes (default: 1, in this "
                         "process)")
    cd.add_argument("--scheduler", metavar="ADDRESS",
                    help="solve candidates on a running Dask scheduler, e.g. tcp://HOST:8786 (default: none)")
    cd.add_argument("--cache", type=Path, metavar="DIR",
                    help="folder of solved candidates, reused by later runs (default: <out>/.codesign-cache)")
    _output_args(cd, "output folder; the study writes <out>/codesign/",
                 "print the front as one strict JSON array on stdout (an object per point) and nothing else "
                 "(default: off)")


def _codesign(args: argparse.Namespace) -> int:
    from . import api
    from .outputs import check_out_dir

    folder = _out_dir(args)
    cache = check_out_dir(args.cache if args.cache is not None else args.out / ".codesign-cache", replaced=False)
    storage = args.storage or "journal:///" + str((args.out / "codesign.log").resolve())
    with _progress(args, f"codesign {args.spec.name}", args.trials) as step, _quiet_stdout(args):
        done = api.codesign(args.spec, folder, storage, args.workers, args.scheduler, cache, args.trials, step)
    if args.json:
        _print_json([{"trial": r.number, "params": r.params, **r.metrics, "status": r.status, "bound": r.bound}
                     for r in done.front])
    elif not args.quiet:
        from .codesign.report import dashboard_command

        goals = [g.metric for g in done.codesign.goals]
        print(f"{len(done.rows)} trials ({done.run.new} new: {done.run.solved} solved, {done.run.cached} cached, "
              f"{done.run.pruned} pruned) in {done.run.wall_s:.1f} s; Pareto front of {len(done.front)}:")
        for r in done.front:
            print(f"  trial {r.number}: " + ", ".join(f"{k}={v}" for k, v in r.params.items()) + " -> "
                  + ", ".join(f"{m}={r.metrics[m]:.6g}" for m in goals))
        print(f"browse the study: {dashboard_command(storage)}")
    _wrote(args, folder, done.written, bool(done.front))
    return 0 if done.front else 1


COMMANDS["codesign"] = _codesign


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status (0 ok, 1 no plan found, 2 bad input)."""
    args = _parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except AccelplanError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # stdout closed early (e.g. piped into head): the reader has what it wanted
        import os
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error when Python flushes stdout
        return 141


if __name__ == "__main__":
    sys.exit(main())
