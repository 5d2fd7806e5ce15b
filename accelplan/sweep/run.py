"""Solve a sweep's points on Dask distributed: an embedded ``LocalCluster`` or a running scheduler.

Each point is one task (:func:`solve_point`) submitted with ``retries``; a worker that dies loses
only the point it was running, which the scheduler gives to another worker (and an exception the
solve did not turn into an outcome is retried). Points already in the cache are not submitted;
each finished point is stored in the cache as it arrives, so a sweep killed at any moment keeps
every point finished before it.
"""

from __future__ import annotations

import logging
import os
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .. import families
from ..errors import SpecError, SpecIssue, need
from .cache import Outcome, PointCache
from .results import PointResult, SweepResult
from .spec import Sweep, SweepPoint

if TYPE_CHECKING:
    from ..plan_file import RunFacts
    from ..specs.study import Study

RETRIES = 2  # resubmissions of a point whose task raised
CONNECT_TIMEOUT_S = 10  # to reach a running scheduler, and for it to answer and have a worker (at most the points' limit)


@dataclass(frozen=True)
class PointTask:
    """What a worker needs to solve one point (the study travels whole: no file is read on the worker)."""

    study: "Study"
    strategy: str
    time_limit_s: float
    seed: int
    run: "RunFacts"  # what the plan file records

    @classmethod
    def of(cls, point: SweepPoint) -> "PointTask":
        return cls(point.study, point.strategy, point.time_limit_s, point.seed, point.run)


def solve_point(task: PointTask) -> Outcome:
    """Tabulate and solve one point (on a worker) and render its plan file; a strategy or study the solve refuses is
    an outcome saying why."""
    from ..errors import AccelplanError
    from ..families import build_problem
    from ..plan_file import plan_to_yaml
    from ..solvers import solve

    start = time.perf_counter()
    try:
        problem = build_problem(task.study)
    except AccelplanError as exc:
        return Outcome(None, str(exc), None, time.perf_counter() - start)
    cost = families.get(problem.family).hardware_cost(problem)
    try:
        plan = solve(problem, task.strategy, task.time_limit_s, task.seed)
    except AccelplanError as exc:
        return Outcome(None, str(exc), cost, time.perf_counter() - start)
    return Outcome(plan, plan.solver.message, cost, time.perf_counter() - start, plan_to_yaml(plan, task.run), task.run)


def _scheduler_error(message: str) -> SpecError:
    return SpecError("<command line>", [SpecIssue(
        f"{message}; start one with `dask scheduler` and workers with `dask worker tcp://HOST:8786`, or leave "
        "--scheduler out for an embedded cluster", "--scheduler")])


def check_scheduler(address: str, wait_s: float) -> None:
    """Refuse an address Dask cannot use, naming why, before any client waits on it: an unknown scheme, a TCP address
    that refuses the connection, or one that accepts it and does not send a scheduler's handshake within ``wait_s``
    (a Dask comm sends its handshake as soon as it connects; issue 25, item 12: such an address held a sweep forever)."""
    import socket

    backends = need("distributed.comm.registry", "accelplan sweep --scheduler (Dask)").backends

    scheme, sep, rest = address.partition("://")
    if not sep:
        scheme, rest = "tcp", address
    if scheme not in backends:
        import difflib

        close = difflib.get_close_matches(scheme, list(backends), n=1)
        raise _scheduler_error(f"{address!r}: unknown address scheme {scheme!r}"
                               + (f" (did you mean {close[0]}?)" if close else "")
                               + f"; Dask schedulers listen on {', '.join(f'{b}://' for b in sorted(backends))}, "
                               "e.g. tcp://HOST:8786")
    if scheme != "tcp":
        return  # TLS and the others need their own handshake; Client's timeout bounds them
    host, _, port = rest.rstrip("/").rpartition(":")
    host = host.strip("[]") or "127.0.0.1"
    if not port.isdigit():
        raise _scheduler_error(f"{address!r}: expected tcp://HOST:PORT")
    try:
        with socket.create_connection((host, int(port)), timeout=wait_s) as probe:
            probe.settimeout(wait_s)
            if not probe.recv(1):
                raise _scheduler_error(f"the address {address!r} closed the connection without answering as a Dask "
                                       "scheduler")
    except TimeoutError:
        raise _scheduler_error(f"no Dask scheduler answered at {address!r} within {wait_s:g} s (it accepted the "
                               "connection and sent nothing)" if _accepts(host, int(port), wait_s) else
                               f"cannot reach {address!r} within {wait_s:g} s") from None
    except OSError as exc:
        raise _scheduler_error(f"cannot reach a Dask scheduler at {address!r}: {exc.strerror or exc}") from None


def _accepts(host: str, port: int, wait_s: float) -> bool:
    """Whether ``host:port`` accepts a TCP connection within ``wait_s`` (to tell a silent server from none)."""
    import socket

    try:
        socket.create_connection((host, port), timeout=wait_s).close()
        return True
    except OSError:
        return False


@contextmanager
def dask_client(workers: int | None = None, scheduler: str | None = None,
                wait_s: float = CONNECT_TIMEOUT_S) -> Iterator[object]:
    """A Dask client: of the scheduler at ``scheduler`` (``tcp://host:8786``), which must answer and have a worker
    within ``wait_s``, else of an embedded LocalCluster of ``workers`` processes (default: one per core), one thread
    each."""
    distributed = need("distributed", "accelplan sweep (Dask)")
    Client, LocalCluster = distributed.Client, distributed.LocalCluster

    if scheduler:
        check_scheduler(scheduler, wait_s)
        try:
            client = Client(scheduler, timeout=f"{wait_s}s")
        except (OSError, TimeoutError, ValueError, TypeError) as exc:
            raise _scheduler_error(f"cannot reach a Dask scheduler at {scheduler!r} within {wait_s:g} s ({exc})") \
                from None
        with client:
            try:
                client.wait_for_workers(1, timeout=wait_s)
            except (TimeoutError, OSError):
                raise _scheduler_error(f"the Dask scheduler at {scheduler!r} has no worker (none joined within "
                                       f"{wait_s:g} s)") from None
            yield client
        return
    n = workers or os.cpu_count() or 1
    # on loopback only: the embedded cluster's scheduler, workers and dashboard open no port to the network.
    # Its own logs are silenced below CRITICAL: a point's failure reaches the caller through its future (its
    # exception, or KilledWorker), while a worker whose heartbeat races the scheduler's shutdown logs a
    # traceback at ERROR that says nothing about the sweep (seen twice in 1,200 fuzz cases under load).
    with LocalCluster(n_workers=n, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address="127.0.0.1:0", silence_logs=logging.CRITICAL) as cluster, \
            Client(cluster) as client:
        yield client


def run_sweep(sweep: Sweep, cache: PointCache, workers: int | None = None, scheduler: str | None = None,
              progress: Callable[[str], None] | None = None) -> SweepResult:
    """Every point's row: read from ``cache``, else solved on the cluster (and stored in ``cache``).

    ``progress`` is called once before the first point and once as each point is done, with its id and status.
    Points with the same key are solved once.
    """
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int) or workers < 1):
        raise SpecError("<command line>", [SpecIssue(f"expected a positive number of worker processes, got {workers!r}",
                                                     "--workers")])
    start = time.perf_counter()
    step = progress or (lambda text: None)
    step(f"{len(sweep.points)} points")
    rows: dict[str, PointResult] = {}
    todo: dict[str, list[SweepPoint]] = {}
    for point in sweep.points:
        outcome = cache.get(point.key)
        if outcome is None:
            todo.setdefault(point.key, []).append(point)
            continue
        rows[point.id] = PointResult.of(point, outcome, cached=True)
        step(f"{point.id} {rows[point.id].status} (cached)")
    used, address = 0, ""
    if todo:
        used, address = _solve_on_cluster(todo, rows, cache, step, workers, scheduler,
                                          min(CONNECT_TIMEOUT_S, max(p.time_limit_s for p in sweep.points)))
    _tell_cache(cache)
    ordered = tuple(rows[p.id] for p in sweep.points)
    computed = sum(len(same) for same in todo.values())
    return SweepResult(sweep.name, sweep.file, sweep.axes, ordered, computed, len(ordered) - computed, used, address,
                       time.perf_counter() - start)


def _solve_on_cluster(todo: dict[str, list[SweepPoint]], rows: dict[str, PointResult], cache: PointCache,
                      step: Callable[[str], None], workers: int | None, scheduler: str | None,
                      wait_s: float) -> tuple[int, str]:
    """Solve the points of ``todo`` on the cluster into ``rows`` and ``cache``; the workers used and the scheduler's
    address. A connection the cluster closes under the run (a worker or the scheduler gone, an overloaded machine)
    is a :class:`SpecError` saying that the points solved so far are kept."""
    try:
        with dask_client(workers, scheduler, wait_s) as client:
            used, address = len(client.nthreads()), client.scheduler.address
            for point, outcome, failed in _solve_all(client, [same[0] for same in todo.values()]):
                if not failed:
                    cache.keep(point.key, outcome)
                for same in todo[point.key]:
                    rows[same.id] = PointResult.of(same, outcome, cached=False, failed=failed)
                    step(f"{same.id} {rows[same.id].status}")
        return used, address
    except OSError as exc:  # distributed's CommClosedError is one
        done = sum(1 for same in todo.values() if same[0].id in rows)
        raise SpecError("<cluster>", [SpecIssue(
            f"the Dask cluster closed a connection ({type(exc).__name__}: {exc}) after {done} of {len(todo)} points; "
            f"those are kept in the cache {cache.folder}: run the same command again to solve the rest",
            "--scheduler" if scheduler else "--workers")]) from None


def _tell_cache(cache: PointCache) -> None:
    """Say on stderr how many cache entries did not read back (recomputed) or could not be stored."""
    for what, found in (("ignored (it did not read back as a result) and recomputed", cache.ignored),
                        ("not stored", cache.unstored)):
        if found:
            key, why = next(iter(found.items()))
            print(f"warning: sweep cache {cache.folder}: {len(found)} entr{'y' if len(found) == 1 else 'ies'} {what}; "
                  f"e.g. {key[:12]}: {why}", file=sys.stderr)


def _solve_all(client: object, points: Sequence[SweepPoint]) -> Iterator[tuple[SweepPoint, Outcome, bool]]:
    """Submit every point, yield (point, outcome, failed) as each finishes; ``failed``: the cluster lost it."""
    from distributed import as_completed

    run = uuid.uuid4().hex[:8]
    futures = {client.submit(solve_point, PointTask.of(p), key=f"accelplan-point-{p.id}-{p.key[:12]}-{run}",
                             pure=False, retries=RETRIES): p for p in points}
    for future in as_completed(futures):
        point = futures[future]
        try:
            yield point, future.result(), False
        except Exception as exc:  # the task raised RETRIES + 1 times, or killed too many workers
            yield point, Outcome(None, f"the cluster could not solve it: {type(exc).__name__}: {exc}", None, 0.0), True
        future.release()
