"""Wall time of commands that should start at once, against the time of one solve.

    python benchmarks/cli_startup.py [--repeat 5] [--out benchmarks/results/cli_startup.json]

Each command runs in a fresh interpreter (``python -m accelplan.cli ...``), ``--repeat`` times;
the table gives the median and the modules the command loaded from the solver backends (Pyomo,
OR-Tools, Optuna, matplotlib, HiGHS), which must be none for ``--help``, ``list``, ``validate``
and ``schema``. Target (issue 10): each under 0.5 s. Wall-clock times: compare rows of one run.
"""

from __future__ import annotations

import argparse
import json
import platform
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


def run(args: list[str]) -> tuple[float, str]:
    t0 = time.perf_counter()
    res = subprocess.run([sys.executable, "-c", PROBE.format(args=args, heavy=HEAVY)], capture_output=True, text=True,
                         cwd=ROOT)
    elapsed = time.perf_counter() - t0
    loaded = next((line.split(" ", 1)[1] for line in res.stderr.splitlines() if line.startswith("LOADED")), "?")
    return elapsed, loaded.strip() or "-"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/cli_startup.json")
    args = ap.parse_args()
    rows = []
    print("| command | median s | min s | backends loaded | target < 0.5 s |")
    print("|---|---|---|---|---|")
    for name, argv in COMMANDS.items():
        times, loaded = [], ""
        for _ in range(args.repeat):
            t, loaded = run(argv)
            times.append(t)
        row = {"command": name, "median_s": statistics.median(times), "min_s": min(times), "loaded": loaded}
        rows.append(row)
        target = "—" if name.startswith("solve") else ("met" if row["median_s"] < 0.5 else "NOT met")
        print(f"| {name} | {row['median_s']:.3f} | {row['min_s']:.3f} | {loaded} | {target} |", flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"machine": platform.platform(), "python": platform.python_version(), "rows": rows},
                                   indent=1))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
