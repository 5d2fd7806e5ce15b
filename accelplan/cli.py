"""Command line: ``accelplan solve|validate|schema|list``. Parsing and printing only."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from . import api
from .errors import AccelplanError
from .reports.summary import summary_json, summary_table
from .specs.schema import SCHEMAS


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="accelplan", description="Plan DNN inference deployments on accelerators.")
    sub = ap.add_subparsers(dest="command", required=True)

    s = sub.add_parser("solve", help="find the best plan for a study")
    s.add_argument("study", nargs="?", type=Path, help="study YAML (or use --model and --hardware)")
    s.add_argument("--model", help="built-in model name or model YAML path")
    s.add_argument("--hardware", help="built-in hardware name or hardware YAML path")
    s.add_argument("--execution", choices=["sequential", "spatial", "hybrid"])
    s.add_argument("--objective", choices=["throughput", "latency", "energy"])
    s.add_argument("--latency-max", type=float, dest="latency_max_ms", metavar="MS", help="latency bound (ms)")
    s.add_argument("--throughput-min", type=float, metavar="PER_S", help="throughput bound (inferences/s)")
    s.add_argument("--batch", type=int)
    s.add_argument("--max-accelerators", type=int)
    s.add_argument("--strategy", choices=["milp", "exhaustive"])
    s.add_argument("--time-limit", type=float, dest="time_limit_s", metavar="S", help="solver time limit (s)")
    s.add_argument("-o", "--out", type=Path, default=Path("out"), help="output folder (default: out/)")
    s.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    s.add_argument("--quiet", action="store_true", help="print nothing but errors (and --json)")

    v = sub.add_parser("validate", help="check spec files; errors name file, line and field")
    v.add_argument("files", nargs="+", type=Path)

    sc = sub.add_parser("schema", help="print the JSON Schema of a spec kind")
    sc.add_argument("kind", choices=sorted(SCHEMAS))

    sub.add_parser("list", help="list built-in models, hardware and studies")
    return ap


def _solve(args: argparse.Namespace) -> int:
    study = api.make_study(args.study, model=args.model, hardware=args.hardware, execution=args.execution,
                           objective=args.objective, latency_max_ms=args.latency_max_ms,
                           throughput_min=args.throughput_min, batch=args.batch,
                           max_accelerators=args.max_accelerators, strategy=args.strategy,
                           time_limit_s=args.time_limit_s)
    result = api.plan_study(study)
    written = api.write_outputs(result, args.out)
    if args.json:
        print(json.dumps(summary_json(result.plan)))
    elif not args.quiet:
        print(summary_table(result.plan))
        print("wrote " + ", ".join(str(p) for p in written))
    return 0 if result.plan.accelerators else 1


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status (0 ok, 1 no plan found, 2 bad input)."""
    args = _parser().parse_args(argv)
    try:
        if args.command == "solve":
            return _solve(args)
        if args.command == "validate":
            failed = 0
            for path in args.files:
                try:
                    kind = api.validate_file(path)
                    print(f"{path}: valid {kind} spec")
                except AccelplanError as exc:
                    print(f"error: {exc}", file=sys.stderr)
                    failed += 1
            return 2 if failed else 0
        if args.command == "schema":
            print(api.json_schema(args.kind))
            return 0
        if args.command == "list":
            for kind, names in api.library().items():
                print(f"{kind}: {', '.join(names) or '(none)'}")
            return 0
    except AccelplanError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return 2


if __name__ == "__main__":
    sys.exit(main())
