"""Analytical against simulated latency and throughput of the plans accelplan finds, the way a user checks them.

    python benchmarks/simulation.py [--models deit-tiny,...] [--time-limit 60] [--out benchmarks/results/simulation.json]

Cases: every built-in study (specs/studies/*.yaml, solved as written), then every built-in model on vck190
hybrid (batch 16, at most 6 accelerators, throughput, colgen). Each plan is written, read back and
replayed as ``accelplan simulate`` does (:func:`accelplan.api.simulate`); the table gives both figures, their
difference, whether they agree within the tolerance and, when they do not, which to believe.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from accelplan import api  # noqa: E402
from accelplan.errors import AccelplanError  # noqa: E402
from accelplan.outputs import write_atomic  # noqa: E402
from accelplan.plan_file import RunFacts, write_plan  # noqa: E402
from accelplan.simulate import TOLERANCE  # noqa: E402

DEFAULT_MODELS = "deit-tiny,bert-base,vit-base,resnet50,resnet152,gpt2-small"


def _row(label: str, study, folder: Path, time_limit_s: float) -> dict:
    result = api.plan_study(study, time_limit_s=time_limit_s)
    if not result.plan.feasible:
        return {"case": label, "note": "no feasible plan"}
    plan_file = write_plan(result.plan, folder / f"{label}.yaml", RunFacts.of(result.study))
    sim = api.simulate(plan_file)
    lat, thr = sim.simulation.latency, sim.simulation.throughput
    verdict_lat, verdict_thr = sim.verdicts
    return {"case": label, "execution": result.plan.execution, "strategy": result.plan.solver.strategy,
            "status": result.plan.solver.status, "handoffs": sim.facts.handoffs, "returns": sim.facts.reentrant,
            "latency_ms": [lat.analytical, lat.simulated, lat.relative_difference, verdict_lat.believe],
            "throughput": [thr.analytical, thr.simulated, thr.relative_difference, verdict_thr.believe]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default=DEFAULT_MODELS)
    ap.add_argument("--time-limit", type=float, default=60.0)
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results" / "simulation.json")
    args = ap.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="accelplan-simulation-"))
    cases = [(p.stem, lambda p=p: api.make_study(p)) for p in sorted((ROOT / "specs" / "studies").glob("*.yaml"))]
    cases += [(f"{m} hybrid", lambda m=m: api.make_study(model=m, hardware="vck190", execution="hybrid", batch=16,
                                                         max_accelerators=6, strategy="colgen"))
              for m in filter(None, args.models.split(","))]
    print(f"tolerance {100 * TOLERANCE:g} %\n")
    print("| case | plan | hand-offs / returns per input | latency ms: analytical → simulated | "
          "throughput /s: analytical → simulated | believe |")
    print("|---|---|---|---|---|---|")
    rows = []
    for label, make in cases:
        try:
            row = _row(label.replace(" ", "-"), make(), folder, args.time_limit)
        except AccelplanError as exc:
            row = {"case": label, "note": str(exc)}
        row["case"] = label
        rows.append(row)
        if "note" in row:
            print(f"| {label} | {row['note']} | | | | |")
            continue
        (la, ls, ld, lb), (ta, ts, td, tb) = row["latency_ms"], row["throughput"]
        believe = "both" if lb == tb == "both" else f"latency: {lb}, throughput: {tb}"
        print(f"| {label} | {row['strategy']} {row['status']}, {row['execution']} | {row['handoffs']} / {row['returns']} | "
              f"{la:.4g} → {ls:.4g} ({100 * ld:+.1f} %) | {ta:.5g} → {ts:.5g} ({100 * td:+.1f} %) | {believe} |",
              flush=True)
    meta = {"machine": platform.platform(), "python": platform.python_version(), "tolerance": TOLERANCE}
    write_atomic(args.out, json.dumps({"meta": meta, "rows": rows}, indent=2))
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
