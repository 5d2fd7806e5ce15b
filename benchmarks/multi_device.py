"""Large models on chains of devices: the exact dp's plan (throughput) and its solve time.

    python benchmarks/multi_device.py [--cases llama-7b-decode@u250-x32,...] [--time-limit 120]
                                      [--out benchmarks/results/multi_device.json]

Each case is MODEL@HARDWARE (built-in names or paths), batch 1 (one token or one prompt per
input). Prints devices used, throughput (inferences/s: tokens/s for decode), latency, energy per
inference, the bottleneck and the solve time, and beside them the same model on the GPU
roofline reference (``--reference``, default the built-in ``a100``); writes the rows as JSON. Targets (issue 11):
llama-7b decode and prefill on up to 32 devices proven optimal < 10 s; GPT-3 175B on up to 128
devices < 60 s. Wall-clock times: compare rows of one run with each other.
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

CASES = ("llama-7b-decode@u250-x32,llama-7b-prefill@u250-x32,llama-7b-decode@u55c-x128,gpt3-xl-decode@u250-x32,"
         "gpt3-175b-decode@u250-x32,gpt3-175b-decode@u55c-x128,gpt3-175b@u55c-x128")


def run(case: str, time_limit_s: float, gpu: str) -> dict:
    """The case solved by dp, and beside it the same model on the GPU reference ``gpu`` ('' for none)."""
    model, hardware = case.split("@")
    t0 = time.perf_counter()
    study = api.make_study(model=model, hardware=hardware, batch=1, reference=gpu or False)
    problem = build_problem(study)
    tabulate_s = time.perf_counter() - t0
    plan = solve(problem, "dp", time_limit_s=time_limit_s)
    s = plan.solver
    row = {"model": model, "hardware": hardware, "layers": problem.n_layers, "devices_available": len(problem.devices.chain),
           "status": s.status, "devices": len(plan.accelerators), "throughput": plan.throughput,
           "latency_ms": plan.latency_ms, "energy_mj": plan.energy_mj, "bottleneck": plan.bottleneck,
           "bound": s.bound, "gap": s.gap, "tabulate_s": tabulate_s, "solve_time_s": s.solve_time_s, "message": s.message}
    ref = api.reference_plan(study, 60)
    if ref is not None:
        row |= {"gpu": ref.hardware, "gpu_throughput": ref.throughput, "gpu_energy_mj": ref.energy_mj}
    return row


def _f(value, spec: str) -> str:
    return "—" if value is None else format(value, spec)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cases", default=CASES)
    ap.add_argument("--time-limit", type=float, default=120.0)
    ap.add_argument("--reference", default="a100", help="GPU roofline spec to compare with ('' for none)")
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "multi_device.json")
    args = ap.parse_args()
    rows = []
    print("| model | hardware | layers | status | devices used / available | inferences/s | latency ms | "
          "energy mJ/inf | bottleneck | dp solve s | GPU inferences/s | GPU mJ/inf |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for case in args.cases.split(","):
        r = run(case, args.time_limit, args.reference)
        rows.append(r)
        print(f"| {r['model']} | {r['hardware']} | {r['layers']} | {r['status']} | {r['devices']} / {r['devices_available']} | "
              f"{_f(r['throughput'], '.2f')} | {_f(r['latency_ms'], '.1f')} | {_f(r['energy_mj'], '.1f')} | "
              f"{r['bottleneck']} | {r['solve_time_s']:.2f} | {_f(r.get('gpu_throughput'), '.2f')} | "
              f"{_f(r.get('gpu_energy_mj'), '.1f')} |", flush=True)
    write_atomic(args.out, json.dumps({"machine": platform.platform(), "python": platform.python_version(),
                                       "time_limit_s": args.time_limit, "rows": rows}, indent=1))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
