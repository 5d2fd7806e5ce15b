"""Optuna trials per second on the BERT-base study by storage: in memory, SQLite, journal file, PostgreSQL.

    python benchmarks/storage.py [--time-limit 20] [--repeat 1] [--workers 1,4] [--storages memory,sqlite,...]
                                 [--out benchmarks/results/storage.json]

Each configuration runs ``optuna-tpe`` (``run_search``, the strategy's own search) on
``specs/studies/bert-base_vck190.yaml`` for ``--time-limit`` seconds in a fresh study: the wall time
includes opening the storage and starting the workers. Storages: ``memory``; ``sqlite-optuna`` (Optuna's
own ``RDBStorage`` with heartbeats: what accelplan used before, one commit per parameter);
``sqlite``, ``journal`` (a ``.log`` file) and ``postgresql`` (accelplan's storages, one write per
finished trial). ``--workers`` runs each shared storage with that many processes on one study
(in-memory runs one). PostgreSQL is the server ACCELPLAN_POSTGRES_URL names, else one started with
initdb/pg_ctl (as ``tests/test_optuna_postgres.py`` does), else its rows are left out. Configurations run
in turn, ``--repeat`` rounds (each starting one configuration later), each row its median; the ratio is to
in memory over the same rounds.
Target (issue 13): the embedded file storages within 2x of in memory. Wall-clock times on a shared
machine: compare rows of one run.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import statistics
import sys
import tempfile
import time
import uuid
import warnings
from collections.abc import Iterator
from pathlib import Path

import optuna

from accelplan import api
from accelplan.families import build_problem
from accelplan.outputs import write_atomic
from accelplan.solvers import search

ROOT = Path(__file__).resolve().parent.parent
STUDY = ROOT / "specs/studies/bert-base_vck190.yaml"
STORAGES = ("memory", "sqlite-optuna", "sqlite", "journal", "postgresql")


@contextlib.contextmanager
def postgres() -> Iterator[str | None]:
    """The server's URL: ACCELPLAN_POSTGRES_URL, else a throw-away server, else None (with the reason on stderr)."""
    if os.environ.get("ACCELPLAN_POSTGRES_URL"):
        yield os.environ["ACCELPLAN_POSTGRES_URL"]
        return
    sys.path.insert(0, str(ROOT / "tests"))
    import postgres_server

    why = postgres_server.missing()
    if why:
        print(f"no PostgreSQL rows: {why}", file=sys.stderr)
        yield None
        return
    with postgres_server.started_server() as url:
        yield url


@contextlib.contextmanager
def optuna_rdb() -> Iterator[None]:
    """accelplan's search on Optuna's own RDBStorage (heartbeats, no batching): the storage before issue 13."""
    kept = search.open_storage
    search.open_storage = lambda url: optuna.storages.RDBStorage(url, heartbeat_interval=search.HEARTBEAT_S,
                                                                 grace_period=search.GRACE_S)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            yield
    finally:
        search.open_storage = kept


def url_for(storage: str, folder: Path, pg: str | None) -> str | None:
    name = uuid.uuid4().hex[:8]
    return {"memory": None, "sqlite-optuna": f"sqlite:///{folder / name}.db", "sqlite": f"sqlite:///{folder / name}.db",
            "journal": f"journal:///{folder / name}.log", "postgresql": pg}[storage]


def measure(problem, storage: str, workers: int, time_limit: float, folder: Path, pg: str | None, seed: int) -> dict:
    url = url_for(storage, folder, pg)
    name = f"bench-{uuid.uuid4().hex[:10]}" if url else None
    with optuna_rdb() if storage == "sqlite-optuna" else contextlib.nullcontext():
        start = time.perf_counter()
        study, _ = search.run_search(problem, False, time_limit, seed, storage=url, study_name=name,
                                     workers=workers if url else None)
        wall = time.perf_counter() - start
    done = len(study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,)))
    return {"trials": done, "wall_s": wall, "trials_per_s": done / wall}


def run_rounds(problem, configs: list[tuple[str, int]], args: argparse.Namespace, folder: Path,
               pg: str | None) -> dict[tuple[str, int], list[dict]]:
    """Every configuration once per round, each round starting one configuration later (the load drifts)."""
    runs: dict[tuple[str, int], list[dict]] = {c: [] for c in configs}
    for round_ in range(args.repeat):
        for storage, workers in configs[round_ % len(configs):] + configs[:round_ % len(configs)]:
            result = measure(problem, storage, workers, args.time_limit, folder, pg, args.seed)
            runs[storage, workers].append(result)
            print(f"  {storage} x{workers}: {result['trials']} trials", file=sys.stderr, flush=True)
    return runs


def table(runs: dict[tuple[str, int], list[dict]]) -> list[dict]:
    """Print one row per configuration (medians) and return the rows."""
    rates = {c: statistics.median(r["trials_per_s"] for r in results) for c, results in runs.items()}
    memory = rates.get(("memory", 1))
    print("| storage | workers | trials | wall s | trials/s | in-memory / this |")
    print("|---|---|---|---|---|---|")
    rows = []
    for (storage, workers), results in runs.items():
        rate = rates[storage, workers]
        row = {"storage": storage, "workers": workers, "trials": statistics.median(r["trials"] for r in results),
               "wall_s": statistics.median(r["wall_s"] for r in results), "trials_per_s": rate,
               "slowdown_vs_memory": memory / rate if memory and rate else None, "runs": results}
        rows.append(row)
        slowdown = f"{row['slowdown_vs_memory']:.2f}x" if row["slowdown_vs_memory"] else "-"
        print(f"| {storage} | {workers} | {row['trials']:g} | {row['wall_s']:.1f} | {rate:.1f} | {slowdown} |")
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--time-limit", type=float, default=20.0)
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--workers", default="1,4", help="worker counts of the shared storages")
    ap.add_argument("--storages", default=",".join(STORAGES))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/storage.json")
    args = ap.parse_args()
    storages = [s for s in args.storages.split(",") if s]
    unknown = sorted(set(storages) - set(STORAGES))
    if unknown:
        ap.error(f"unknown storages {unknown}; known: {', '.join(STORAGES)}")
    problem = build_problem(api.make_study(STUDY))
    with postgres() as pg, tempfile.TemporaryDirectory(prefix="accelplan-storage-") as tmp:
        configs = [(s, w) for s in storages if s != "postgresql" or pg
                   for w in ([1] if s in ("memory", "sqlite-optuna") else [int(w) for w in args.workers.split(",")])]
        runs = run_rounds(problem, configs, args, Path(tmp), pg)
    print(f"\nBERT-base on VCK190 (hybrid, {problem.n_layers} layers, {problem.n_configs} configurations), optuna-tpe, "
          f"{args.time_limit:g} s per run, median of {args.repeat}\n")
    rows = table(runs)
    write_atomic(args.out, json.dumps({"machine": platform.platform(), "python": platform.python_version(),
                                       "cpus": os.cpu_count(), "optuna": optuna.__version__,
                                       "time_limit_s": args.time_limit, "repeat": args.repeat, "rows": rows}, indent=1))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
