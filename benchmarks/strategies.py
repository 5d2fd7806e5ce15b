"""Every strategy on the same problems: time to proven optimum (exact) and gap reached (Optuna).

    python benchmarks/strategies.py [--models bert-base,...] [--stacks 12,24,48,96] [--executions spatial,hybrid]
                                    [--strategies milp,cpsat,dp] [--trials 10,100,1000] [--time-limit 60]
                                    [--out benchmarks/results/strategies.json]

Workloads: each built-in model on ``--hardware`` and synthetic transformer stacks of N BERT-base
encoder blocks (d=768, 12 heads, FFN 3072, sequence 128). Per workload and execution model, each
exact strategy runs under the time limit; the reference is the best objective any of them proved
optimal (else the best found, against the tightest proven bound). Optuna TPE then runs with each
trial budget (and the same time limit) and its gap to the reference is reported. Prints markdown
tables and writes all rows as JSON. Wall-clock times: compare rows of one run with each other.
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from pathlib import Path

from accelplan import api
from accelplan.errors import SolveError
from accelplan.families import build_problem
from accelplan.outputs import write_atomic
from accelplan.plan import better, relative_gap
from accelplan.solvers import solve
from accelplan.specs.library import builtin_names

STACK = """\
name: stack-{n}
description: {n} BERT-base encoder blocks (d 768, 12 heads, FFN 3072, sequence 128)
dtype: int8
operators:
  - repeat: {n}
    name: block
    operators:
      - {{name: q, kind: linear, m: 128, k: 768, n: 768}}
      - {{name: k, kind: linear, m: 128, k: 768, n: 768}}
      - {{name: v, kind: linear, m: 128, k: 768, n: 768}}
      - {{name: qk, kind: attention_qk, heads: 12, seq: 128, head_dim: 64}}
      - {{name: softmax, kind: softmax, elements: 196608}}
      - {{name: pv, kind: attention_pv, heads: 12, seq: 128, head_dim: 64}}
      - {{name: proj, kind: linear, m: 128, k: 768, n: 768}}
      - {{name: ln1, kind: layernorm, elements: 98304}}
      - {{name: fc1, kind: linear, m: 128, k: 768, n: 3072}}
      - {{name: gelu, kind: gelu, elements: 393216}}
      - {{name: fc2, kind: linear, m: 128, k: 3072, n: 768}}
      - {{name: ln2, kind: layernorm, elements: 98304}}
"""


def _fmt(value, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--hardware", default="vck190")
    ap.add_argument("--models", default=",".join(builtin_names("models")), help="built-in models ('' for none)")
    ap.add_argument("--stacks", default="12,24,48,96", help="synthetic stack depths ('' for none)")
    ap.add_argument("--executions", default="spatial,hybrid")
    ap.add_argument("--strategies", default="milp,cpsat,dp")
    ap.add_argument("--trials", default="10,100,1000", help="Optuna TPE trial budgets ('' for none)")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--time-limit", type=float, default=60.0)
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results" / "strategies.json")
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="accelplan-stacks-"))
    workloads = [m for m in args.models.split(",") if m]
    for n in [int(x) for x in args.stacks.split(",") if x]:
        path = tmp / f"stack-{n}.yaml"
        path.write_text(STACK.format(n=n))
        workloads.append(str(path))
    budgets = [int(x) for x in args.trials.split(",") if x]
    rows = []
    print("| workload | execution | layers | strategy | status | objective | bound | gap to reference % | solve s | evaluations |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for workload in workloads:
        for execution in args.executions.split(","):
            study = api.make_study(model=workload, hardware=args.hardware, execution=execution, batch=args.batch)
            problem = build_problem(study)
            name = Path(workload).stem if workload.endswith(".yaml") else workload
            runs = []
            for strategy in args.strategies.split(","):
                try:
                    plan = solve(problem, strategy, time_limit_s=args.time_limit)
                except SolveError as exc:
                    runs.append({"strategy": strategy, "status": "unsupported", "message": str(exc)})
                    continue
                s = plan.solver
                runs.append({"strategy": strategy, "status": s.status, "objective": s.objective, "bound": s.bound,
                             "solve_time_s": s.solve_time_s, "evaluations": s.evaluations})
            proven = [r["objective"] for r in runs if r["status"] == "optimal"]
            found = [r["objective"] for r in runs if r.get("objective") is not None]
            reference = proven[0] if proven else None
            if reference is None and found:
                reference = found[0]
                for v in found:
                    reference = v if better(problem.objective, v, reference) else reference
            for trials in budgets:
                t0 = time.perf_counter()
                plan = solve(problem, "optuna-tpe", time_limit_s=args.time_limit, trials=trials, seed=0)
                runs.append({"strategy": f"optuna-tpe@{trials}", "status": plan.solver.status,
                             "objective": plan.solver.objective, "bound": None,
                             "solve_time_s": time.perf_counter() - t0, "evaluations": plan.solver.evaluations})
            for r in runs:
                r["gap_to_reference"] = relative_gap(problem.objective, r.get("objective"), reference)
                row = {"workload": name, "execution": execution, "layers": problem.n_layers,
                       "configs": problem.n_configs, "reference": reference, "reference_proven": bool(proven), **r}
                rows.append(row)
                print(f"| {name} | {execution} | {problem.n_layers} | {r['strategy']} | {r['status']} | "
                      f"{_fmt(r.get('objective'), '.2f')} | {_fmt(r.get('bound'), '.2f')} | "
                      f"{_fmt(None if r['gap_to_reference'] is None else 100 * r['gap_to_reference'], '.3f')} | "
                      f"{_fmt(r.get('solve_time_s'), '.2f')} | {_fmt(r.get('evaluations'), 'd')} |", flush=True)
    meta = {"machine": platform.platform(), "python": platform.python_version(), "time_limit_s": args.time_limit,
            "batch": args.batch, "hardware": args.hardware}
    write_atomic(args.out, json.dumps({"meta": meta, "rows": rows}, indent=2))
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
