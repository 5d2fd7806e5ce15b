"""The shipped Versal co-design study against an exhaustive grid over the same space (issue 27).

    python benchmarks/codesign.py [--spec specs/codesign/bert-base_vck190.yaml] [--workers 2]
        [--out benchmarks/results/codesign.json]

1. ``accelplan codesign`` on the spec from an empty storage and cache (``--workers`` Dask processes): wall time
   (cluster start included), trials complete / pruned / solved / read from the cache, its Pareto front.
2. Every candidate of the space (the cartesian product of its parameters' values), solved on the same Dask
   cluster size with the same strategy and per-candidate limit; the candidates the co-design run solved are read
   from its cache, and ``--work``'s grid cache is kept between runs (solve times counted as they were measured), so
   the grid's cost is reported as the sum of its candidates' solve times, beside this run's wall time.
3. The comparison: the grid's best point (the best first objective, ties broken by the next), whether the co-design
   front holds it (same objective values), how many of the grid's front points the co-design front holds, the 2-D
   hypervolume of both fronts (first two objectives, reference: the worst values of the grid's feasible points).

Prints a table and writes JSON. Wall-clock times on a shared machine are noisy (the load average is recorded).
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
import sys  # noqa: E402

sys.path.insert(0, str(ROOT))

from accelplan import api  # noqa: E402
from accelplan.codesign.results import TrialRow, front  # noqa: E402
from accelplan.codesign.run import metrics_of, violation  # noqa: E402
from accelplan.codesign.spec import candidate, load_codesign  # noqa: E402
from accelplan.sweep.cache import PointCache  # noqa: E402
from accelplan.sweep.run import PointTask, dask_client, solve_point  # noqa: E402


def grid(cd, caches: list[PointCache], workers: int) -> tuple[list[TrialRow], float, int]:
    """Every candidate solved (read from ``caches`` where there; stored in the last): its rows, this run's wall time
    and how many were solved here."""
    cache = caches[-1]
    axes = [[(p.name, v) for v in p.grid()] for p in cd.parameters]
    combos = [dict(c) for c in itertools.product(*axes)]
    cands = [candidate(cd, values, i) for i, values in enumerate(combos)]
    outcomes: dict[str, object] = {}
    start = time.perf_counter()
    todo = []
    for c in cands:
        got = next((o for o in (k.get(c.key) for k in caches) if o is not None), None)
        if got is not None:
            outcomes[c.key] = got
        elif c.key not in {t.key for t in todo}:
            todo.append(c)
    if todo:
        from distributed import as_completed

        with dask_client(workers) as client:
            futures = {client.submit(solve_point, PointTask(c.study, cd.strategy, cd.time_limit_s, cd.seed, c.run),
                                     pure=False): c for c in todo}
            for i, f in enumerate(as_completed(futures), 1):
                c = futures[f]
                outcomes[c.key] = f.result()
                cache.put(c.key, outcomes[c.key])
                if i % 25 == 0:
                    print(f"  grid: {i}/{len(todo)} solved", flush=True)
    wall = time.perf_counter() - start
    rows = []
    for i, c in enumerate(cands):
        o = outcomes[c.key]
        m = metrics_of(cd, c.values, o)
        plan = o.plan
        rows.append(TrialRow(i, "complete", c.values, {k: v for k, v in m.items() if v is not None},
                             plan.solver.status if plan else "unsupported", plan.solver.bound if plan else None,
                             violation(cd, m, plan is not None and plan.feasible), o.message, o.wall_s, False, c.key))
    return rows, wall, len(todo)


def hypervolume(cd, points: list[TrialRow], ref: tuple[float, float]) -> float:
    """Area dominated by the points in the first two objectives (both turned into minimisation), up to ``ref``."""
    g0, g1 = cd.goals[0], cd.goals[1]
    pts = sorted(((-r.metrics[g0.metric] if g0.maximize else r.metrics[g0.metric],
                   -r.metrics[g1.metric] if g1.maximize else r.metrics[g1.metric]) for r in points))
    area, best_y = 0.0, ref[1]
    for x, y in pts:
        if y < best_y and x < ref[0]:
            area += (ref[0] - x) * (best_y - y)
            best_y = y
    return area


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--spec", type=Path, default=ROOT / "specs/codesign/bert-base_vck190.yaml")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/codesign.json")
    ap.add_argument("--work", type=Path, default=None, help="folder for the runs; its grid-cache/ is reused by the "
                                                            "next run (default: a temporary one)")
    args = ap.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="codesign-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    cd = load_codesign(args.spec)
    load0 = os.getloadavg()[0]
    start = time.perf_counter()
    import shutil

    for old in ("codesign-out", "codesign-cache"):  # the co-design run starts afresh; the grid's cache is kept
        shutil.rmtree(work / old, ignore_errors=True)
    done = api.codesign(args.spec, work / "codesign-out" / "codesign", workers=args.workers,
                        cache_dir=work / "codesign-cache",
                        progress=lambda text: print(f"  codesign: {text}", flush=True) if "trials" in text else None)
    codesign_wall = time.perf_counter() - start
    load1 = os.getloadavg()[0]
    print(f"codesign: {len(done.rows)} trials in {codesign_wall:.1f} s; grid next", flush=True)
    grid_rows, grid_wall, grid_solved = grid(cd, [PointCache(work / "codesign-cache"), PointCache(work / "grid-cache")],
                                             args.workers)
    grid_front = front(cd, grid_rows)
    metrics = [g.metric for g in cd.goals]

    def vec(r: TrialRow) -> tuple[float, ...]:
        return tuple(round(r.metrics[m], 9) for m in metrics)

    ours = {vec(r) for r in done.front}
    best = grid_front[0]
    held = sum(vec(r) in ours for r in grid_front)
    feasible = [r for r in grid_rows if r.feasible]
    g0, g1 = cd.goals[0], cd.goals[1]
    ref = (max(-r.metrics[g0.metric] if g0.maximize else r.metrics[g0.metric] for r in feasible),
           max(-r.metrics[g1.metric] if g1.maximize else r.metrics[g1.metric] for r in feasible))
    hv_grid, hv_ours = hypervolume(cd, grid_front, ref), hypervolume(cd, done.front, ref)
    finished = [r for r in done.rows if r.state in ("complete", "pruned")]
    result = {
        "spec": str(args.spec.relative_to(ROOT)) if args.spec.is_relative_to(ROOT) else str(args.spec),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "load_before": load0,
                    "load_after_codesign": load1, "load_after_grid": os.getloadavg()[0]},
        "workers": args.workers, "space": len(grid_rows), "parameters": [p.name for p in cd.parameters],
        "objectives": [f"{g.metric} ({g.direction})" for g in cd.goals],
        "codesign": {"wall_s": codesign_wall, "trials": len(finished),
                     "complete": sum(r.state == "complete" for r in done.rows),
                     "pruned": sum(r.state == "pruned" for r in done.rows), "solved": done.run.solved,
                     "cached": done.run.cached, "distinct_candidates": len({r.key for r in finished if r.key}),
                     "solve_s_sum": sum(r.solve_s for r in done.rows if not r.cached),
                     "front": [{"trial": r.number, "params": r.params, **{m: r.metrics[m] for m in metrics}}
                               for r in done.front]},
        "grid": {"wall_s_this_run": grid_wall, "solved_this_run": grid_solved,
                 "solve_s_sum": sum(r.solve_s for r in grid_rows),
                 "optimal": sum(r.status == "optimal" for r in grid_rows), "feasible": len(feasible),
                 "best": {"params": best.params, **{m: best.metrics[m] for m in metrics}},
                 "front": [{"params": r.params, **{m: r.metrics[m] for m in metrics}} for r in grid_front]},
        "front_holds_grid_best": vec(best) in ours,
        "grid_front_points_held": held, "grid_front_points": len(grid_front),
        "hypervolume_ratio": hv_ours / hv_grid if hv_grid else None,
        "within_10_min": codesign_wall <= 600,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print()
    print(f"| | candidates solved | trials | wall s | solve s (sum) | best {metrics[0]} | its {metrics[1]} | front |")
    print("|---|---|---|---|---|---|---|---|")
    ours_best = done.front[0] if done.front else None
    print(f"| co-design ({type(done.run.study.sampler).__name__}, {args.workers} workers) | "
          f"{result['codesign']['distinct_candidates']} of {len(grid_rows)} | {len(finished)} "
          f"({result['codesign']['pruned']} pruned) | {codesign_wall:.0f} | {result['codesign']['solve_s_sum']:.0f} | "
          f"{ours_best.metrics[metrics[0]]:.6g} | {ours_best.metrics[metrics[1]]:.6g} | {len(done.front)} |"
          if ours_best else "| co-design | no feasible point |")
    print(f"| exhaustive grid | {len(grid_rows)} | — | {grid_wall:.0f} (this run, {grid_solved} solved here) | "
          f"{result['grid']['solve_s_sum']:.0f} | {best.metrics[metrics[0]]:.6g} | {best.metrics[metrics[1]]:.6g} | "
          f"{len(grid_front)} |")
    print()
    print(f"front holds the grid's best point: {result['front_holds_grid_best']}; grid front points held: "
          f"{held}/{len(grid_front)}; hypervolume ratio {result['hypervolume_ratio']:.3f}; co-design within 10 min: "
          f"{result['within_10_min']}")
    print(f"wrote {args.out}")
    return 0 if result["front_holds_grid_best"] and result["within_10_min"] else 1


if __name__ == "__main__":
    sys.exit(main())
