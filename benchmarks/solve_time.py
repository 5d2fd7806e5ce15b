"""Solve time and gap of every built-in model on a hardware under each execution model.

    python benchmarks/solve_time.py [--hardware vck190] [--batch 16] [--time-limit 60] [--out benchmarks/results/solve_time.json]

Prints a markdown table and writes the rows as JSON. Times are wall-clock on this machine: compare
rows of one run with each other rather than across machines.
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--hardware", default="vck190")
    ap.add_argument("--models", default=",".join(builtin_names("models")))
    ap.add_argument("--executions", default="sequential,spatial,hybrid")
    ap.add_argument("--objective", default="throughput")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--max-accelerators", type=int, default=6)
    ap.add_argument("--time-limit", type=float, default=60.0)
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results" / "solve_time.json")
    args = ap.parse_args()

    rows = []
    print("| model | execution | layers | configs | status | throughput (inf/s) | bound | gap % | latency ms | tabulate s | solve s |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for model in args.models.split(","):
        for execution in args.executions.split(","):
            study = api.make_study(model=model, hardware=args.hardware, execution=execution, objective=args.objective,
                                   batch=args.batch, max_accelerators=args.max_accelerators)
            t0 = time.perf_counter()
            problem = build_problem(study)
            tabulate_s = time.perf_counter() - t0
            plan = solve(problem, "milp", args.time_limit)
            s = plan.solver
            row = {"model": model, "hardware": args.hardware, "execution": execution, "objective": args.objective,
                   "batch": args.batch, "layers": problem.n_layers, "configs": problem.n_configs, "status": s.status,
                   "objective_value": s.objective, "bound": s.bound, "gap": s.gap, "throughput": plan.throughput,
                   "latency_ms": plan.latency_ms, "energy_mj": plan.energy_mj, "tabulate_s": tabulate_s,
                   "solve_time_s": s.solve_time_s, "accelerators": len(plan.accelerators)}
            rows.append(row)
            fmt = lambda v, f: "-" if v is None else format(v, f)  # noqa: E731
            print(f"| {model} | {execution} | {problem.n_layers} | {problem.n_configs} | {s.status} | "
                  f"{fmt(s.objective, '.2f')} | {fmt(s.bound, '.2f')} | {fmt(None if s.gap is None else 100 * s.gap, '.3f')} | "
                  f"{fmt(plan.latency_ms, '.3f')} | {tabulate_s:.2f} | {s.solve_time_s:.2f} |", flush=True)
    meta = {"machine": platform.platform(), "python": platform.python_version(), "time_limit_s": args.time_limit}
    write_atomic(args.out, json.dumps({"meta": meta, "rows": rows}, indent=2))
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
