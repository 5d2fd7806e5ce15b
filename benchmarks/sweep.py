"""The bundled 64-point sweep (BERT-base, 8 AI Engine counts x 8 PLIO budgets) on Dask: 1 worker against 2.

    python benchmarks/sweep.py [--sweep specs/sweeps/bert-base_vck190.yaml]
        [--heavy specs/sweeps/bert-base_vck190_hybrid.yaml] [--repeat 2] [--out benchmarks/results/sweep.json]

First a machine check: equal CPU-bound tasks on 1 and on 2 workers, the most two workers can gain
on this machine at the time (other jobs sharing its cores lower it). Then the sweep, and ``--heavy``
(points that take seconds: BERT-base hybrid by colgen), on an embedded LocalCluster of 1 and of 2
worker processes (one thread each), each run from an empty cache, in the order 1, 2, 2, 1, ...
(``--repeat`` of each) so that a drift of the machine's load falls on both alike: wall time
(cluster start included), points/s, the load average over each run and the speed-up of 2 workers
over 1. Last, a run of the sweep killed (SIGKILL to its process group, the cluster's workers with
it) once a third of its points are finished, and the same command run again: the points it
recomputes must be exactly the unfinished ones (0 finished points recomputed). Wall-clock times on
a shared machine are noisy: compare the rows of one run.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from accelplan import api  # noqa: E402
from accelplan.sweep.cache import PointCache  # noqa: E402


def timed_run(sweep, workers: int, work: Path) -> dict:
    """One sweep from an empty cache on ``workers`` processes."""
    folder = Path(tempfile.mkdtemp(prefix=f"w{workers}-", dir=work))
    load = os.getloadavg()[0]
    start = time.perf_counter()
    run = api.sweep(sweep, folder / "sweep", workers=workers, cache_dir=folder / "cache")
    wall = time.perf_counter() - start
    result = run.result
    return {"workers": result.workers, "points": len(result.rows), "computed": result.computed,
            "optimal": sum(r.status == "optimal" for r in result.rows), "wall_s": wall,
            "points_per_s": len(result.rows) / wall, "load_before": load, "load_after": os.getloadavg()[0],
            "throughputs": [r.throughput for r in result.rows]}


def spin(n: int) -> float:
    """A pure-Python busy loop (the machine check's task); returns its CPU seconds."""
    start, total = time.process_time(), 0
    for i in range(n):
        total += i * i
    return time.process_time() - start


def ceiling(tasks: int = 16, n: int = 2_000_000) -> dict:
    """The machine check: ``tasks`` equal CPU-bound tasks on 1 and on 2 workers; the ratio is the best speed-up
    this machine can give two workers at the moment (other jobs sharing its cores lower it)."""
    import logging

    from distributed import Client, LocalCluster

    walls = {}
    for workers in (1, 2):
        with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=":0",
                          silence_logs=logging.ERROR) as cluster, Client(cluster) as client:
            client.gather(client.map(spin, [10] * workers, pure=False))  # workers up and warm
            start = time.perf_counter()
            client.gather(client.map(spin, [n] * tasks, pure=False))
            walls[workers] = time.perf_counter() - start
    return {"tasks": tasks, "wall_s_1": walls[1], "wall_s_2": walls[2], "speedup": walls[1] / walls[2]}


def killed_and_resumed(sweep_file: Path, points: int, work: Path) -> dict:
    """Kill a 2-worker sweep once a third of its points are finished, run it again; count what each run solved."""
    cache, out = work / "cache-kill", work / "kill"
    cmd = [sys.executable, "-m", "accelplan.cli", "sweep", str(sweep_file), "-o", str(out), "--workers", "2",
           "--cache", str(cache), "--quiet"]
    proc = subprocess.Popen(cmd, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while len(PointCache(cache).keys()) < points // 3 and proc.poll() is None:
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    finished = PointCache(cache).keys()
    stamps = {k: PointCache(cache).path(k).stat().st_mtime_ns for k in finished}
    start = time.perf_counter()
    done = subprocess.run(cmd[:-1] + ["--json"], capture_output=True, text=True, check=False)
    wall = time.perf_counter() - start
    rows = json.loads(done.stdout)
    cached = {r["point"] for r in rows if r["cached"]}
    rewritten = [k for k, t in stamps.items() if PointCache(cache).path(k).stat().st_mtime_ns != t]
    return {"finished_before_kill": len(finished), "resumed_from_cache": len(cached),
            "resumed_computed": len(rows) - len(cached), "finished_points_recomputed": len(rewritten) +
            (len(finished) - len(cached)), "resume_wall_s": wall, "exit": done.returncode}


def scaling(sweep_file: Path, repeat: int, work: Path) -> dict:
    """The sweep on 1 and 2 workers, in the order 1, 2, 2, 1, ...: every run, the mean walls and the speed-up."""
    sweep = api.load_sweep(sweep_file)
    order = [w for _ in range(repeat) for w in (1, 2)]
    order = [w for i in range(0, len(order), 4) for w in (order[i:i + 2] + order[i + 2:i + 4][::-1])]
    runs = [timed_run(sweep, w, work) for w in order]
    mean = {w: statistics.mean(r["wall_s"] for r in runs if r["workers"] == w) for w in (1, 2)}
    best = {w: min(r["wall_s"] for r in runs if r["workers"] == w) for w in (1, 2)}
    return {"sweep": str(sweep_file.relative_to(ROOT)) if sweep_file.is_relative_to(ROOT) else str(sweep_file),
            "name": sweep.name, "points": len(sweep.points), "runs": runs,
            "mean_wall_s": {str(w): t for w, t in mean.items()}, "speedup_2_over_1": mean[1] / mean[2],
            "speedup_2_over_1_best": best[1] / best[2],
            "same_plans": all(r["throughputs"] == runs[0]["throughputs"] for r in runs)}


def print_scaling(result: dict) -> None:
    print(f"sweep {result['name']}: {result['points']} points ({result['sweep']})")
    print("| run | workers | wall s | points/s | optimal | load average before / after |")
    print("|---|---|---|---|---|---|")
    for i, r in enumerate(result["runs"], start=1):
        print(f"| {i} | {r['workers']} | {r['wall_s']:.1f} | {r['points_per_s']:.2f} | {r['optimal']}/{r['points']} | "
              f"{r['load_before']:.1f} / {r['load_after']:.1f} |")
    mean = result["mean_wall_s"]
    print(f"speed-up of 2 workers over 1: {result['speedup_2_over_1']:.2f}x (mean wall {mean['1']:.1f} s / "
          f"{mean['2']:.1f} s), {result['speedup_2_over_1_best']:.2f}x (best of each); points/s "
          f"{result['points'] / mean['1']:.2f} -> {result['points'] / mean['2']:.2f}; same plans in every run: "
          f"{'yes' if result['same_plans'] else 'NO'}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sweep", type=Path, default=ROOT / "specs/sweeps/bert-base_vck190.yaml")
    ap.add_argument("--heavy", type=Path, default=ROOT / "specs/sweeps/bert-base_vck190_hybrid.yaml",
                    help="a sweep of heavier points, timed the same way ('' for none) (default: %(default)s)")
    ap.add_argument("--repeat", type=int, default=2, help="runs of each worker count (default: %(default)s)")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/sweep.json")
    args = ap.parse_args()
    print(f"{os.cpu_count()} cores")
    with tempfile.TemporaryDirectory(prefix="accelplan-sweep-bench-") as tmp:
        work = Path(tmp)
        check = ceiling()
        print(f"machine check (16 equal CPU-bound tasks): 2 workers over 1 {check['speedup']:.2f}x "
              f"({check['wall_s_1']:.1f} s / {check['wall_s_2']:.1f} s): the most this machine gave at the time")
        sweeps = [scaling(args.sweep, args.repeat, work)]
        print_scaling(sweeps[0])
        if str(args.heavy) not in ("", "."):
            sweeps.append(scaling(args.heavy, args.repeat, work))
            print_scaling(sweeps[-1])
        kill = killed_and_resumed(args.sweep, sweeps[0]["points"], work)
    print(f"killed after {kill['finished_before_kill']} finished points; the rerun took {kill['resumed_from_cache']} "
          f"from the cache, solved {kill['resumed_computed']}, recomputed {kill['finished_points_recomputed']} "
          f"finished points ({kill['resume_wall_s']:.1f} s)")
    for result in sweeps:
        for r in result["runs"]:
            del r["throughputs"]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    data = {"machine": platform.platform(), "python": platform.python_version(), "cores": os.cpu_count(),
            "machine_check": check, "sweeps": sweeps, "kill_and_resume": kill}
    args.out.write_text(json.dumps(data, indent=1))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
