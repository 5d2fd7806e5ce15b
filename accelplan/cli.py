"""Command line: ``accelplan solve|compare|compare-execution|pareto|import|emit|validate|schema|list``. Parsing and printing only.

Choices (strategies, their options, objectives, emit targets) come from the registries; the
workflow module and every backend are imported only when a command needs them, so ``--help``,
``list``, ``validate`` and ``schema`` load no solver.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import AccelplanError, SpecError, SpecIssue
from .objective import OBJECTIVES
from .solvers.registry import OPTIONS, STRATEGIES, exact_names

if TYPE_CHECKING:
    from .specs.study import Study

EMIT_TARGETS = ("json", "rtl", "sv", "vitis")  # accelplan.emitters.EMITTERS, named here to keep --help light
SPEC_KINDS = ("hardware", "model", "study")


def _study_args(p: argparse.ArgumentParser) -> None:
    """Arguments naming a study and overriding its fields (shared by solve, compare and pareto)."""
    p.add_argument("study", nargs="?", type=Path, help="study YAML (or use --model and --hardware)")
    p.add_argument("--model", help="built-in model name or model YAML path")
    p.add_argument("--hardware", help="built-in hardware name or hardware YAML path")
    p.add_argument("--execution", help="an execution model of the hardware's family (versal-aie: hybrid, spatial, "
                                       "sequential; mcm: merged-pipeline, segmented-pipeline, layer-sequential)")
    p.add_argument("--objective", choices=list(OBJECTIVES))
    p.add_argument("--latency-max", type=float, dest="latency_max_ms", metavar="MS", help="latency bound (ms)")
    p.add_argument("--throughput-min", type=float, metavar="PER_S", help="throughput bound (inferences/s)")
    p.add_argument("--batch", type=int)
    p.add_argument("--max-accelerators", type=int)
    p.add_argument("--time-limit", type=float, dest="time_limit_s", metavar="S", help="time limit per solve (s)")
    p.add_argument("--seed", type=int, help="random seed (repeatable runs)")
    p.add_argument("-o", "--out", type=Path, default=Path("out"), help="output folder (default: out/)")
    p.add_argument("--json", action="store_true", help="print JSON on stdout")
    p.add_argument("--quiet", action="store_true", help="print nothing but errors (and --json)")


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="accelplan", description="Plan DNN inference deployments on accelerators.")
    sub = ap.add_subparsers(dest="command", required=True)

    s = sub.add_parser("solve", help="find the best plan for a study")
    _study_args(s)
    s.add_argument("--strategy", choices=list(STRATEGIES))
    for option in (o for o in OPTIONS.values() if o.cli):
        s.add_argument("--" + option.name.replace("_", "-"), dest=option.name, type=option.type, metavar=option.metavar,
                       help=option.help)

    c = sub.add_parser("compare", help="run several strategies on one study and tabulate them")
    _study_args(c)
    c.add_argument("--strategies", default=",".join(s.name for s in STRATEGIES.values() if s.compare_by_default),
                   help=f"comma-separated, from: {', '.join(STRATEGIES)}")

    p = sub.add_parser("pareto", help="latency-throughput fronts of sequential, spatial and hybrid execution")
    _study_args(p)
    p.add_argument("--strategy", default="auto", choices=["auto", *exact_names(), "optuna-nsga2"],
                   help="exact sweep (auto: the fastest exact strategy per execution model) or the NSGA-II front")
    p.add_argument("--points", type=int, default=8, help="most points per exact front (default 8)")

    x = sub.add_parser("compare-execution", help="the best plan under each execution model of the hardware's family")
    _study_args(x)
    x.add_argument("--strategy", default="auto", choices=["auto", *STRATEGIES],
                   help="strategy for every solve (auto: the fastest exact strategy per execution model)")

    im = sub.add_parser("import", help="import an ONNX model as a model spec YAML")
    im.add_argument("onnx", type=Path)
    im.add_argument("-o", "--out", type=Path, required=True, help="model spec to write, e.g. specs/models/name.yaml")
    im.add_argument("--batch", type=int, default=1, help="the spec's default batch (shapes are per inference)")
    im.add_argument("--dim", action="append", default=[], metavar="NAME=VALUE", help="value of a symbolic dimension")
    im.add_argument("--lump", action="store_true", help="price unsupported operators as element-wise passes")
    im.add_argument("--name", help="model name (default: the graph's name)")
    im.add_argument("--dtype", default="int8", help="deployment data type (default int8)")

    e = sub.add_parser("emit", help="write a plan's deployment config for a build flow")
    e.add_argument("plan", type=Path, help="plan.yaml written by solve, compare or pareto")
    e.add_argument("--target", required=True, choices=EMIT_TARGETS, help=" | ".join(EMIT_TARGETS))
    e.add_argument("-o", "--out", type=Path, default=Path("build"), help="output folder (default: build/)")

    v = sub.add_parser("validate", help="check spec files; errors name file, line and field")
    v.add_argument("files", nargs="+", type=Path)

    sc = sub.add_parser("schema", help="print the JSON Schema of a spec kind")
    sc.add_argument("kind", choices=SPEC_KINDS)

    sub.add_parser("list", help="list built-in models, hardware and studies")
    return ap


def _study(args: argparse.Namespace, **extra) -> "Study":
    from . import api

    return api.make_study(args.study, model=args.model, hardware=args.hardware, execution=args.execution,
                          objective=args.objective, latency_max_ms=args.latency_max_ms,
                          throughput_min=args.throughput_min, batch=args.batch,
                          max_accelerators=args.max_accelerators, time_limit_s=args.time_limit_s, seed=args.seed,
                          **extra)


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

    study = _study(args, strategy=args.strategy)
    options = {name: getattr(args, name) for name, o in OPTIONS.items() if o.cli}
    with _progress(args, f"{study.strategy} on {study.name} (limit {study.spec.time_limit_s:g} s)", None) as step:
        step(study.execution)
        result = api.plan_study(study, **options)
    written = api.write_outputs(result, args.out)
    if args.json:
        print(json.dumps(summary_json(result.plan)))
    elif not args.quiet:
        print(summary_table(result.plan))
        print("wrote " + ", ".join(str(p) for p in written))
    return 0 if result.plan.accelerators else 1


def _compare(args: argparse.Namespace) -> int:
    from . import api
    from .reports.compare import comparison_json, comparison_markdown

    strategies = [s.strip() for s in args.strategies.split(",") if s.strip()]
    with _progress(args, "strategies", len(strategies)) as step:
        problem, rows = api.compare_study(_study(args), strategies, progress=step)
    written = api.write_comparison(problem, rows, args.out)
    if args.json:
        print(json.dumps(comparison_json(rows)))
    elif not args.quiet:
        print(comparison_markdown(rows, problem.objective.name))
        print("wrote " + ", ".join(str(p) for p in written))
    return 0 if any(r.plan is not None for r in rows) else 1


def _pareto(args: argparse.Namespace) -> int:
    from . import api
    from .reports.pareto import pareto_markdown, pareto_rows

    with _progress(args, "Pareto fronts", 3) as step:
        problem, fronts = api.pareto_study(_study(args), args.strategy, args.points, progress=step)
    written = api.write_pareto(problem, fronts, args.out)
    if args.json:
        print(json.dumps(pareto_rows(fronts)))
    elif not args.quiet:
        print(pareto_markdown(fronts))
        print(f"wrote {len(written)} files in {args.out} (pareto.csv, pareto.png, report.md, pareto/*.yaml)")
    return 0 if any(f.points for f in fronts) else 1


def _compare_execution(args: argparse.Namespace) -> int:
    from . import api
    from .reports.compare import executions_json, executions_markdown

    study = _study(args)
    with _progress(args, "execution models", 3) as step:
        rows = api.compare_execution_study(study, args.strategy, progress=step)
    written = api.write_execution_comparison(study, rows, args.out)
    if args.json:
        print(json.dumps(executions_json(rows)))
    elif not args.quiet:
        print(executions_markdown(rows))
        print(f"wrote {len(written)} files in {args.out}")
    return 0 if any(r.plan is not None and r.plan.feasible for r in rows) else 1


def _import(args: argparse.Namespace) -> int:
    from . import api

    dims = {}
    for item in args.dim:
        key, sep, value = item.partition("=")
        if not sep or not value.isdigit() or int(value) < 1:
            raise SpecError("<command line>", [SpecIssue(f"--dim {item!r}: expected NAME=VALUE with a positive integer")])
        dims[key] = int(value)
    path, count = api.import_model(args.onnx, args.out, args.batch, dims, args.lump, args.name, args.dtype)
    print(f"wrote {path} ({count} operators)")
    return 0


def _emit(args: argparse.Namespace) -> int:
    from . import api

    for path in api.emit_plan(args.plan, args.target, args.out):
        print(f"wrote {path}")
    return 0


def _validate(args: argparse.Namespace) -> int:
    from .specs.check import validate_file

    failed = 0
    for path in args.files:
        try:
            print(f"{path}: valid {validate_file(path)} spec")
        except AccelplanError as exc:
            print(f"error: {exc}", file=sys.stderr)
            failed += 1
    return 2 if failed else 0


def _schema(args: argparse.Namespace) -> int:
    from .specs.check import json_schema

    print(json_schema(args.kind))
    return 0


def _list(args: argparse.Namespace) -> int:
    from .specs.library import KINDS, builtin_names

    for kind in KINDS:
        print(f"{kind}: {', '.join(builtin_names(kind)) or '(none)'}")
    return 0


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "solve": _solve, "compare": _compare, "pareto": _pareto, "compare-execution": _compare_execution,
    "import": _import, "emit": _emit, "validate": _validate, "schema": _schema, "list": _list}


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


if __name__ == "__main__":
    sys.exit(main())
