"""Fuzz the CLI with mutated specs and count the answers by class.

    python benchmarks/fuzz.py [--cases 2000] [--first 0] [--workers 2] [--solve-limit 2] [--timeout 60]
                              [--memory-gib 4] [--out benchmarks/results/fuzz.json]

Each case (``tests/spec_mutations.py``: a built-in model, hardware or study mutated by a seeded
rule) runs ``accelplan validate`` on the study that reads it and, when that says valid,
``accelplan solve`` with ``--time-limit`` = ``--solve-limit``, in a worker process with an address-space
limit (``--memory-gib``) and a wall-clock alarm (``--timeout``). Classes: ``clean error`` (exit 2),
``no plan`` (exit 1), ``solved`` (exit 0), ``traceback`` (an exception escaped), ``hang`` (the alarm
fired), ``memory`` (MemoryError). Prints the counts and every distinct traceback cause, writes JSON.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import multiprocessing
import platform
import resource
import signal
import sys
import tempfile
import time
import traceback
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from spec_mutations import case  # noqa: E402


class _Hang(Exception):
    pass


def _alarm(signum, frame):
    raise _Hang


def _init(memory_gib: float) -> None:
    limit = int(memory_gib * 2**30)
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    signal.signal(signal.SIGALRM, _alarm)


def _run(task: tuple[int, float, int]) -> dict:
    seed, solve_limit, timeout = task
    from accelplan.cli import main

    folder = Path(tempfile.mkdtemp(prefix=f"fuzz-{seed}-"))
    c = case(seed, folder)
    row = {"seed": seed, "kind": c.kind, "mutation": c.mutation}
    signal.alarm(timeout)
    start = time.perf_counter()
    try:
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            status = main(["validate", str(c.study)])
            if status == 0:
                status = main(["solve", str(c.study), "--time-limit", str(solve_limit), "--quiet",
                               "-o", str(folder / "out")])
        row["class"] = {0: "solved", 1: "no plan", 2: "clean error"}.get(status, f"exit {status}")
    except _Hang:
        row["class"] = "hang"
    except MemoryError:
        row["class"] = "memory"
    except Exception as exc:  # noqa: BLE001 - what the fuzzer is looking for
        frame = traceback.extract_tb(exc.__traceback__)[-1]
        row["class"] = "traceback"
        row["cause"] = f"{type(exc).__name__} at {Path(frame.filename).name}:{frame.lineno} ({frame.name})"
    finally:
        signal.alarm(0)
    row["seconds"] = time.perf_counter() - start
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cases", type=int, default=2000)
    ap.add_argument("--first", type=int, default=0, help="seed of the first case")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--solve-limit", type=float, default=2.0, help="solver time limit of a case that validates [s]")
    ap.add_argument("--timeout", type=int, default=60, help="a case with no answer by then is a hang [s]")
    ap.add_argument("--memory-gib", type=float, default=4.0)
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "fuzz.json")
    args = ap.parse_args()

    tasks = [(seed, args.solve_limit, args.timeout) for seed in range(args.first, args.first + args.cases)]
    start = time.perf_counter()
    with multiprocessing.get_context("fork").Pool(args.workers, _init, (args.memory_gib,), maxtasksperchild=50) as pool:
        rows = list(pool.imap_unordered(_run, tasks, chunksize=4))
    counts = Counter(r["class"] for r in rows)
    causes = Counter(r["cause"] for r in rows if "cause" in r)
    print(f"{len(rows)} cases in {time.perf_counter() - start:.0f} s\n\n| class | cases |\n|---|---|")
    for name in ("clean error", "no plan", "solved", "traceback", "hang", "memory"):
        print(f"| {name} | {counts.get(name, 0)} |")
    for cause, n in causes.most_common():
        print(f"- {n} x {cause}")
    slow = max(rows, key=lambda r: r["seconds"])
    print(f"\nslowest case: seed {slow['seed']} ({slow['mutation']}), {slow['seconds']:.1f} s")
    meta = {"machine": platform.platform(), "python": platform.python_version(), **{k: v for k, v in vars(args).items()
                                                                                  if k != "out"}}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    from accelplan.outputs import write_atomic
    write_atomic(args.out, json.dumps({"meta": meta, "counts": dict(counts), "causes": dict(causes), "rows": rows},
                                      indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
