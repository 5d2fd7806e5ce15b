"""Spatial plans under a latency bound, and the latency objective on spatial, on every built-in model (vck190).

    python benchmarks/bounded.py [--models deit-tiny,...] [--batches 1,16] [--strategies dp] [--time-limit 30]
                                 [--fraction 0.97] [--out benchmarks/results/bounded.json]

For each model and batch: the unbounded throughput solve (dp) gives the plan's latency ``L0``; then each strategy
maximises throughput under ``latency <= fraction x L0`` (kind ``bounded``) and minimises latency (kind ``latency``).
Prints a markdown table (model x batch x kind x strategy x status x wall s x CPU s) and writes the rows as JSON.
Times are this machine's: compare rows of one run with each other.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

from accelplan import api
from accelplan.families import build_problem
from accelplan.outputs import write_atomic
from accelplan.solvers import solve
from accelplan.specs.library import builtin_names


def _timed(problem, strategy: str, limit: float):
    w0, c0 = time.perf_counter(), time.process_time()
    plan = solve(problem, strategy, limit)
    return plan, time.perf_counter() - w0, time.process_time() - c0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--hardware", default="vck190")
    ap.add_argument("--models", default=",".join(builtin_names("models")))
    ap.add_argument("--batches", default="1,16")
    ap.add_argument("--strategies", default="dp")
    ap.add_argument("--kinds", default="bounded,latency")
    ap.add_argument("--max-accelerators", type=int, default=6)
    ap.add_argument("--fraction", type=float, default=0.97, help="latency bound as a fraction of the unbounded plan's")
    ap.add_argument("--time-limit", type=float, default=30.0)
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results" / "bounded.json")
    args = ap.parse_args()

    rows = []
    fmt = lambda v, f: "-" if v is None else format(v, f)  # noqa: E731
    print("| model | batch | layers | configs | kind | bound ms | strategy | status | objective | latency ms | wall s | CPU s |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for model in args.models.split(","):
        for batch in (int(b) for b in args.batches.split(",")):
            base = dict(model=model, hardware=args.hardware, execution="spatial", batch=batch,
                        max_accelerators=args.max_accelerators)
            thr = build_problem(api.make_study(**base, objective="throughput"))
            free = solve(thr, "dp", args.time_limit)
            if free.latency_ms is None:
                print(f"| {model} | {batch} | {thr.n_layers} | {thr.n_configs} | unbounded | - | dp | "
                      f"{free.solver.status} | - | - | - | - |", flush=True)
                continue
            bound_ms = args.fraction * free.latency_ms
            kinds = {"bounded": lambda: thr.with_latency_bound(bound_ms / 1e3),
                     "latency": lambda: build_problem(api.make_study(**base, objective="latency"))}
            for kind in args.kinds.split(","):
                problem = kinds[kind]()
                for strategy in args.strategies.split(","):
                    plan, wall, cpu = _timed(problem, strategy, args.time_limit)
                    s = plan.solver
                    row = {"model": model, "batch": batch, "layers": problem.n_layers, "configs": problem.n_configs,
                           "kind": kind, "bound_ms": bound_ms if kind == "bounded" else None,
                           "unbounded_latency_ms": free.latency_ms, "unbounded_throughput": free.throughput,
                           "strategy": strategy, "status": s.status, "objective": s.objective, "bound": s.bound,
                           "throughput": plan.throughput, "latency_ms": plan.latency_ms,
                           "accelerators": len(plan.accelerators), "wall_s": wall, "cpu_s": cpu}
                    rows.append(row)
                    print(f"| {model} | {batch} | {problem.n_layers} | {problem.n_configs} | {kind} | "
                          f"{fmt(row['bound_ms'], '.4f')} | {strategy} | {s.status} | {fmt(s.objective, '.6g')} | "
                          f"{fmt(plan.latency_ms, '.4f')} | {wall:.2f} | {cpu:.2f} |", flush=True)
    meta = {"machine": platform.platform(), "python": platform.python_version(), "time_limit_s": args.time_limit,
            "fraction": args.fraction, "hardware": args.hardware, "max_accelerators": args.max_accelerators}
    write_atomic(args.out, json.dumps({"meta": meta, "rows": rows}, indent=2))
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
