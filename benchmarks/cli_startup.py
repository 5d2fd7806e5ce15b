"""Wall time of commands that should start at once, against the time of one solve.

    python benchmarks/cli_startup.py [--repeat 5] [--out benchmarks/results/cli_startup.json]

Each command runs in a fresh interpreter (``python -m accelplan.cli ...``), ``--repeat`` times;
the table gives the median and the modules the command loaded from the solver backends (Pyomo,
OR-Tools, Optuna, matplotlib, HiGHS), which must be none for ``--help``, ``list``, ``validate``
and ``schema``. Target (issue 10): each under 0.5 s. Wall-clock times: compare rows of one run.

The last rows import ResNet-18 as an ONNX file (built in code, weights zero: ``fidelity_mcm.resnet18_onnx``) and solve
it on a 4-chiplet package (mcm-16 cut to a 2x2 mesh), as one ``solve --model resnet18.onnx`` and as ``import`` then
``solve``. Target (issue 25, item 11): under 1.5 s end to end. ``cpu s`` (user + system of the command) is what a
machine shared with other work cannot inflate as much as the wall time.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HEAVY = ("pyomo", "ortools", "optuna", "matplotlib", "highspy")
PROBE = ("import sys, runpy; sys.argv = ['accelplan'] + {args!r}\n"
         "try:\n    runpy.run_module('accelplan.cli', run_name='__main__')\n"
         "except SystemExit:\n    pass\n"
         "print('LOADED', ','.join(sorted({{m.split('.')[0] for m in sys.modules}} & set({heavy!r}))), file=sys.stderr)\n")

COMMANDS = {
    "--help": ["--help"],
    "list": ["list"],
    "validate": ["validate", str(ROOT / "specs/hardware/vck190.yaml"), str(ROOT / "specs/studies/bert-base_vck190.yaml")],
    "schema": ["schema", "hardware"],
    "solve (deit-tiny, spatial, dp)": ["solve", "--model", "deit-tiny", "--hardware", "vck190", "--execution", "spatial",
                                        "--strategy", "dp", "--quiet", "-o", "/tmp/accelplan-cli-startup"],
}
WORK = Path("/tmp/accelplan-cli-startup")
ONNX, MCM4 = WORK / "resnet18.onnx", WORK / "mcm-4.yaml"
COMMANDS |= {
    "solve ResNet-18 ONNX on mcm-4 (import + solve)": ["solve", "--model", str(ONNX), "--hardware", str(MCM4), "--quiet",
                                                       "-o", str(WORK)],
    "import ResNet-18 ONNX": ["import", str(ONNX), "-o", str(WORK / "resnet18.yaml")],
    "solve ResNet-18 (imported YAML) on mcm-4": ["solve", "--model", str(WORK / "resnet18.yaml"), "--hardware",
                                                 str(MCM4), "--quiet", "-o", str(WORK)],
}


def prepare() -> None:
    """ResNet-18 as an ONNX file and a 4-chiplet package (mcm-16 on a 2x2 mesh, a DRAM controller per corner)."""
    import yaml

    sys.path.insert(0, str(ROOT / "benchmarks"))
    import onnx
    from fidelity_mcm import resnet18_onnx

    WORK.mkdir(parents=True, exist_ok=True)
    onnx.save(resnet18_onnx(), ONNX)
    spec = yaml.safe_load((ROOT / "specs/hardware/mcm-16.yaml").read_text())
    spec.update(name="mcm-4", mesh=[2, 2], description="mcm-16's chiplets on a 2x2 mesh")
    for controller, at in zip(spec["dram"]["controllers"], ([0, 0], [0, 1], [1, 0], [1, 1])):
        controller["at"] = at
    MCM4.write_text(yaml.safe_dump(spec, sort_keys=False))


def run(args: list[str]) -> tuple[float, float, str]:
    """Wall and CPU (user + system) seconds of one command, and the backends it loaded."""
    t0, cpu0 = time.perf_counter(), resource.getrusage(resource.RUSAGE_CHILDREN)
    res = subprocess.run([sys.executable, "-c", PROBE.format(args=args, heavy=HEAVY)], capture_output=True, text=True,
                         cwd=ROOT)
    elapsed, cpu1 = time.perf_counter() - t0, resource.getrusage(resource.RUSAGE_CHILDREN)
    if res.returncode not in (0, 1) or "error:" in res.stderr:
        raise SystemExit(f"{' '.join(args)} failed: {res.stderr.strip()[-500:]}")
    loaded = next((line.split(" ", 1)[1] for line in res.stderr.splitlines() if line.startswith("LOADED")), "?")
    cpu = cpu1.ru_utime - cpu0.ru_utime + cpu1.ru_stime - cpu0.ru_stime
    return elapsed, cpu, loaded.strip() or "-"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/cli_startup.json")
    args = ap.parse_args()
    prepare()
    rows = []
    print(f"load average before: {', '.join(f'{x:.1f}' for x in os.getloadavg())} on {os.cpu_count()} cores")
    print("| command | median s | min s | median cpu s | backends loaded | target |")
    print("|---|---|---|---|---|---|")
    for name, argv in COMMANDS.items():
        times, cpus, loaded = [], [], ""
        for _ in range(args.repeat):
            t, cpu, loaded = run(argv)
            times.append(t)
            cpus.append(cpu)
        row = {"command": name, "median_s": statistics.median(times), "min_s": min(times),
               "median_cpu_s": statistics.median(cpus), "loaded": loaded}
        rows.append(row)
        limit = 1.5 if "ONNX on" in name else None if name.startswith(("solve", "import")) else 0.5
        target = "—" if limit is None else f"< {limit:g} s: " + ("met" if row["min_s"] < limit else "NOT met")
        print(f"| {name} | {row['median_s']:.3f} | {row['min_s']:.3f} | {row['median_cpu_s']:.3f} | {loaded} | "
              f"{target} |", flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"machine": platform.platform(), "python": platform.python_version(),
                                    "load_average": os.getloadavg(), "cores": os.cpu_count(), "rows": rows}, indent=1))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
