"""Execution models on chiplet packages: best plan per model and the dp's time to a proven optimum.

    python benchmarks/mcm.py [--models resnet152,resnet50] [--hardware simba-36,mcm-16,mcm-64]
                             [--batches 1,16,64] [--time-limit 120] [--out benchmarks/results/mcm.json]

For each (model, package, batch) the exact dp solves layer-sequential, segmented-pipeline and
merged-pipeline execution (throughput objective). Prints one markdown table (throughput, energy,
segments, clusters, solve time, merged/segmented ratio) and writes every row as JSON. The target
of issue 4 is the merged-pipeline solve of resnet152 on simba-36 to a proven optimum in < 30 s.
Wall-clock times: compare rows of one run with each other.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

from accelplan import api
from accelplan import families
from accelplan.families import build_problem
from accelplan.outputs import write_atomic
from accelplan.sweeps import compare_executions


def run(models: list[str], packages: list[str], batches: list[int], time_limit_s: float) -> list[dict]:
    rows = []
    order = [m.name for m in families.get("mcm").executions]
    for model in models:
        for hardware in packages:
            for batch in batches:
                study = api.make_study(model=model, hardware=hardware, batch=batch)
                t0 = time.perf_counter()
                problems = {e: build_problem(study, execution=e) for e in order}
                tabulate_s = (time.perf_counter() - t0) / len(order)
                for r in compare_executions(problems, "dp", time_limit_s):
                    row = {"model": model, "hardware": hardware, "batch": batch, "layers": problems[r.execution].n_layers,
                           "cluster_sizes": problems[r.execution].n_configs, "tabulate_s": tabulate_s, **r.to_dict()}
                    rows.append(row)
                    print(f"{model:>10} {hardware:>9} b={batch:<3} {r.execution:<19} {r.status:<10} "
                          f"{(r.throughput or 0):10.2f} inf/s  {r.solve_time_s:6.2f} s", flush=True)
    return rows


def table(rows: list[dict]) -> str:
    out = ["| model | package | batch | execution | status | throughput inf/s | energy mJ/inf | segments | clusters | "
           "× segmented | dp solve s |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        ratio = "—" if r["throughput_ratio"] is None else f"{r['throughput_ratio']:.3f}"
        out.append(f"| {r['model']} | {r['hardware']} | {r['batch']} | {r['execution']} | {r['status']} | "
                   f"{(r['throughput'] or 0):.2f} | {(r['energy_mj'] or 0):.3f} | {r['segments']} | {r['clusters']} | "
                   f"{ratio} | {r['solve_time_s']:.2f} |")
    return "\n".join(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default="resnet152,resnet50")
    ap.add_argument("--hardware", default="simba-36,mcm-16,mcm-64")
    ap.add_argument("--batches", default="1,16,64")
    ap.add_argument("--time-limit", type=float, default=120.0)
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "mcm.json")
    args = ap.parse_args()
    rows = run(args.models.split(","), args.hardware.split(","), [int(b) for b in args.batches.split(",")], args.time_limit)
    print()
    print(table(rows))
    target = [r for r in rows if r["model"] == "resnet152" and r["hardware"] == "simba-36" and r["execution"] == "merged-pipeline"]
    for r in target:
        print(f"\ntarget: resnet152 / simba-36 / merged-pipeline / batch {r['batch']}: {r['status']} in "
              f"{r['solve_time_s']:.2f} s ({'met' if r['status'] == 'optimal' and r['solve_time_s'] < 30 else 'NOT met'}: < 30 s)")
    write_atomic(args.out, json.dumps({"machine": platform.platform(), "python": platform.python_version(),
                                       "time_limit_s": args.time_limit, "rows": rows}, indent=1))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
