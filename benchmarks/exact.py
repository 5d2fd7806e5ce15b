"""Time to a proven optimum of the exact strategies on the built-in models and two harder cases.

    python benchmarks/exact.py [--models bert-base,...] [--executions hybrid,spatial]
                               [--strategies colgen,dp,milp,cpsat] [--stack 96] [--tile-menu] [--time-limit 60]
                               [--target 10] [--out benchmarks/results/exact.json]

Cases: every built-in model that tabulates on ``--hardware`` (vck190: every versal model, its shipped menu of
CHARM's and SSR's engine tiles), batch 16, at most 6 accelerators, throughput; a synthetic stack of ``--stack`` BERT-base encoder blocks
(hybrid); BERT-base with engine tiles as decisions (``engine_tile_dims: {int8: [16, 32, 64, 128]}``,
hybrid). Each strategy that covers a case runs once under the time limit; the table gives its status,
objective, bound, gap, wall time and the process's CPU time (on a shared machine the CPU time moves
less than the wall time; CP-SAT's workers add theirs). Wall-clock times are of this machine at this
moment: compare rows of one run with each other. The last lines count, per strategy, the cases proven
optimal within ``--target`` seconds (issue 24: every built-in, hybrid, proven in < 10 s).
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from pathlib import Path

from accelplan import api
from accelplan.errors import AccelplanError, SolveError
from accelplan.families import build_problem
from accelplan.outputs import write_atomic
from accelplan.solvers import solve
from accelplan.specs.library import builtin_names, builtin_path

from strategies import STACK


def _tile_menu_hardware(folder: Path, hardware: str) -> Path:
    """The built-in hardware with the int8 engine tile's dimensions as decisions."""
    text = builtin_path("hardware", hardware).read_text()
    text = text.replace(f"name: {hardware}", f"name: {hardware}-tile-menu", 1)
    text = text.replace("menu:\n", "menu:\n  engine_tile_dims: {int8: [16, 32, 64, 128]}\n", 1)
    path = folder / f"{hardware}-tile-menu.yaml"
    path.write_text(text)
    return path


def _cases(args: argparse.Namespace, folder: Path) -> list[tuple[str, str, str, str]]:
    """(label, model, hardware, execution) per case."""
    cases = [(m, m, args.hardware, ex) for m in args.models.split(",") if m for ex in args.executions.split(",")]
    if args.stack:
        path = folder / f"stack-{args.stack}.yaml"
        path.write_text(STACK.format(n=args.stack))
        cases.append((f"stack-{args.stack}", str(path), args.hardware, "hybrid"))
    if args.tile_menu:
        cases.append(("bert-base tile menu", "bert-base", str(_tile_menu_hardware(folder, args.hardware)), "hybrid"))
    return cases


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--hardware", default="vck190")
    ap.add_argument("--models", default=",".join(builtin_names("models")))
    ap.add_argument("--executions", default="hybrid,spatial")
    ap.add_argument("--strategies", default="colgen,dp,milp,cpsat")
    ap.add_argument("--stack", type=int, default=96, help="blocks of the synthetic stack (0: none)")
    ap.add_argument("--tile-menu", action=argparse.BooleanOptionalAction, default=True)
    ap.add_argument("--time-limit", type=float, default=60.0)
    ap.add_argument("--target", type=float, default=10.0, help="seconds a proof should take (summary lines)")
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results" / "exact.json")
    args = ap.parse_args()

    rows = []
    print("| case | execution | layers | configs | strategy | status | objective | bound | gap % | solve s | cpu s |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for label, model, hardware, execution in _cases(args, Path(tempfile.mkdtemp(prefix="accelplan-exact-"))):
        try:
            problem = build_problem(api.make_study(model=model, hardware=hardware, execution=execution, batch=16,
                                                   max_accelerators=6))
        except AccelplanError as exc:  # a model this hardware cannot run (e.g. no kernel for its dtype)
            print(f"| {label} | {execution} | - | - | - | skipped: {exc} | | | | | |")
            continue
        for name in args.strategies.split(","):
            t0, c0 = time.perf_counter(), time.process_time()
            try:
                plan = solve(problem, name, time_limit_s=args.time_limit)
            except SolveError:
                continue  # the strategy does not cover this case
            s = plan.solver
            row = {"case": label, "execution": execution, "layers": problem.n_layers, "configs": problem.n_configs,
                   "strategy": name, "status": s.status, "objective": s.objective, "bound": s.bound, "gap": s.gap,
                   "solve_time_s": time.perf_counter() - t0, "cpu_time_s": time.process_time() - c0}
            rows.append(row)
            fmt = lambda v, f: "-" if v is None else format(v, f)  # noqa: E731
            print(f"| {label} | {execution} | {problem.n_layers} | {problem.n_configs} | {name} | {s.status} | "
                  f"{fmt(s.objective, '.3f')} | {fmt(s.bound, '.3f')} | {fmt(None if s.gap is None else 100 * s.gap, '.4f')} | "
                  f"{row['solve_time_s']:.2f} | {row['cpu_time_s']:.2f} |", flush=True)
    print()
    for name in dict.fromkeys(r["strategy"] for r in rows):
        mine = [r for r in rows if r["strategy"] == name]
        fast = [r for r in mine if r["status"] == "optimal" and r["solve_time_s"] < args.target]
        slow = [f"{r['case']} ({r['execution']}: {r['status']}, {r['solve_time_s']:.1f} s)" for r in mine if r not in fast]
        print(f"{name}: {len(fast)}/{len(mine)} proven optimal in < {args.target:g} s"
              + (f"; not: {', '.join(slow)}" if slow else ""))
    meta = {"machine": platform.platform(), "python": platform.python_version(), "time_limit_s": args.time_limit, "target_s": args.target,
            "hardware": args.hardware}
    write_atomic(args.out, json.dumps({"meta": meta, "rows": rows}, indent=2))
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
