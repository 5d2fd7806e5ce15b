"""The heuristic strategies ``optuna-tpe`` (one objective) and ``optuna-nsga2`` (latency, throughput, energy).

The decision space is the exact strategies' plan space, as Optuna parameters: the search space of
the problem's plan form (:mod:`accelplan.solvers.spaces`). Every trial is priced by the shared
evaluator; budgets, the latency bound and throughput_min are set as the trial's constraints
(``Trial.set_constraint``; a trial is feasible when every value is <= 0), which both samplers read.
The space's warm plan (the contiguous heuristic's plan on a pipeline) is enqueued as the first trial
(a warm start, as a designer would seed a search).

Storage: in memory by default; a storage URL (``sqlite:///path.db``, ``postgresql://...``, ``journal:///path.log``;
:mod:`accelplan.solvers.storages`) with a study name keeps every finished trial, so an interrupted search resumes
where it stopped, and lets several processes search one study at once: ``workers`` starts that many processes
here (this one and ``workers - 1`` children), and the same search started on other machines joins the study.
Trials send heartbeats there: the trial a killed search was running is marked FAIL by the next search on the
study once its heartbeat is ``GRACE_S`` seconds old (Optuna's ``fail_stale_trials``), and retried once.
"""

from __future__ import annotations

import datetime
import os
import pickle
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import optuna

from ..dominance import pareto_min
from ..errors import SolveError
from ..execution import Metrics
from ..plan import Groups, Outcome, Progress, metrics
from ..problem import Problem
from .contiguous import best_candidate
from .spaces import SearchSpace, plan_space
# GRACE_S and HEARTBEAT_S are read from here too (tests, benchmarks/storage.py)
from .storages import GRACE_S, HEARTBEAT_S, create_or_load_study, fail_stale_trials, open_storage, redacted  # noqa: F401


def _trial_values(problem: Problem, met: Metrics, multi: bool) -> float | list[float]:
    if multi:
        return [met.latency_s * 1e3, met.throughput, met.energy_j * 1e3]
    return met.objective_value(problem.objective)


def _sampler(multi: bool, seed: int) -> optuna.samplers.BaseSampler:
    return optuna.samplers.NSGAIISampler(seed=seed) if multi else optuna.samplers.TPESampler(seed=seed, multivariate=True)


def make_study(problem: Problem, multi: bool, seed: int, storage: str | None,
               study_name: str | None, deadline: float | None = None) -> tuple[optuna.Study, bool]:
    """An Optuna study with a seeded TPE or NSGA-II sampler, and whether this call created it (a new study, or
    one in ``storage`` no other search had created: creation is atomic there, so one process per study learns
    True); a study found in ``storage`` is joined (resumed, or shared with the searches running on it) when it
    searched the same problem in the same directions."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    if storage is not None and not study_name:
        raise SolveError("an Optuna storage needs a study name (--study-name) to resume from")
    directions = ["minimize", "maximize", "minimize"] if multi else \
        ["maximize" if problem.objective.maximise else "minimize"]
    study, created = create_or_load_study(storage, study_name, _sampler(multi, seed), directions,
                                          None if deadline is None else deadline - time.time())
    key = f"{problem.model}/{problem.hardware}/{problem.execution}/{problem.objective}/{problem.n_layers}x{problem.n_configs}"
    known = study.user_attrs.get("problem")
    if known is not None and known != key:
        raise SolveError(f"Optuna study {study_name!r} in {storage} searched another problem ({known}); "
                         f"this one is {key}: choose another --study-name")
    found = [d.name.lower() for d in study.directions]
    if found != directions:
        raise SolveError(f"cannot use Optuna study {study_name!r} in {storage}: it was searched in the directions "
                         f"{found}, this search needs {directions}")
    if known is None:
        study.set_user_attr("problem", key)
    return study, created


def feasible_trials(study: optuna.Study) -> list[optuna.trial.FrozenTrial]:
    """Finished trials whose constraints all hold."""
    return [t for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
            if t.constraints and all(v <= 1e-9 for v in t.constraints.values())]


def pareto_trials(study: optuna.Study) -> list[optuna.trial.FrozenTrial]:
    """Feasible finished trials that no other feasible trial beats or ties on latency, throughput and energy."""
    trials = feasible_trials(study)
    keys = np.array([(t.user_attrs["latency_ms"], -t.user_attrs["throughput"], t.user_attrs["energy_mj"]) for t in trials])
    return [trials[i] for i in sorted(pareto_min(keys.reshape(len(trials), 3)))]


def trial_groups(trial: optuna.trial.FrozenTrial) -> Groups:
    """The accelerator groups a finished trial evaluated."""
    def plain(value: Any) -> Any:
        return tuple(int(v) for v in value) if isinstance(value, (list, tuple)) else int(value)
    return tuple(tuple(plain(v) for v in g) for g in trial.user_attrs["groups"])  # the form's records, as plain tuples


def _plain(groups: Groups) -> list:
    """Groups as JSON lists (a trial's ``groups`` and ``warm`` attributes)."""
    return [[list(v) if isinstance(v, tuple) else v for v in g] for g in groups]


@dataclass(frozen=True)
class _Objective:
    """One trial: sample a plan, price it, record its constraints and metrics; the objective value(s)."""

    space: SearchSpace
    multi: bool

    def __call__(self, trial: optuna.Trial) -> float | list[float]:
        problem = self.space.problem
        groups = self.space.suggest(trial)
        met = metrics(problem, groups, check_bounds=False)
        for name, value in self.space.constraints(groups, met).items():
            trial.set_constraint(name, value)
        trial.set_user_attr("groups", _plain(groups))
        trial.set_user_attr("latency_ms", met.latency_s * 1e3)
        trial.set_user_attr("throughput", met.throughput)
        trial.set_user_attr("energy_mj", met.energy_j * 1e3)
        return _trial_values(problem, met, self.multi)


@dataclass(frozen=True)
class _Worker:
    """What a worker process needs to join a study and search it until ``deadline`` (``time.time()``)."""

    problem: Problem
    multi: bool
    seed: int
    storage: str
    study_name: str
    trials: int | None
    deadline: float


def _optimize(study: optuna.Study, objective: _Objective, trials: int | None, deadline: float,
              callbacks: list[Callable] | None = None) -> None:
    """Trials until ``trials`` are done or ``deadline`` (``time.time()``) has passed (Optuna runs one at least)."""
    if trials != 0:
        study.optimize(objective, n_trials=trials, timeout=max(0.0, deadline - time.time()), callbacks=callbacks)


def _work(worker: _Worker) -> None:
    """A worker process: join the study and search it until the deadline (no trial when it started too late)."""
    if time.time() < worker.deadline:
        study, _ = make_study(worker.problem, worker.multi, worker.seed, worker.storage, worker.study_name,
                              worker.deadline)
        _optimize(study, _Objective(plan_space(worker.problem), worker.multi), worker.trials, worker.deadline)


def _shares(trials: int | None, workers: int) -> list[int | None]:
    """Each worker's bound on new trials (together ``trials``), or None (until the time limit) for each."""
    if trials is None:
        return [None] * workers
    return [trials // workers + (i < trials % workers) for i in range(workers)]


class _Workers:
    """Worker processes 1.. of a search: ``python -m accelplan.solvers.search`` each, reading its
    :class:`_Worker` (pickled) on stdin. They share nothing with this process but the storage (no fork of its
    threads or connections, no import of its main module), and report an error on stdout."""

    def __init__(self, base: _Worker, shares: list[int | None]) -> None:
        self._started = []
        for i, share in enumerate(shares[1:], start=1):
            worker = _Worker(base.problem, base.multi, base.seed + i, base.storage, base.study_name, share,
                             base.deadline)
            process = subprocess.Popen([sys.executable, "-m", __name__], stdin=subprocess.PIPE,
                                       stdout=subprocess.PIPE, text=False)
            process.stdin.write(pickle.dumps(worker))
            process.stdin.close()
            self._started.append(process)

    def stop(self) -> None:
        """End every worker now (this search stopped early)."""
        for process in self._started:
            process.terminate()
            process.wait()
            process.stdout.close()

    def join(self, deadline: float) -> None:
        """Wait for the workers (they stop at the deadline, after their running trial); a worker's error is a
        :class:`SolveError`. A worker killed by a signal is no error: its trial is failed and retried by heartbeat."""
        failures = []
        end = deadline + 0.5  # one end for all: the workers stop together, within the time limit's allowance
        for i, process in enumerate(self._started, start=1):
            try:
                # a trial running at the deadline may end it; past the time limit's allowance (issue 25, item 4)
                # the worker is killed, and its trial failed and retried by heartbeat
                process.wait(timeout=max(0.0, end - time.time()))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            out = process.stdout.read()
            process.stdout.close()
            if process.returncode > 0:
                failures.append(f"worker {i}: {out.decode(errors='replace').strip() or f'exit {process.returncode}'}")
        if failures:
            raise SolveError("Optuna search: " + "; ".join(failures))


def run_search(problem: Problem, multi: bool, time_limit_s: float = 60.0, seed: int = 0, trials: int | None = None,
               storage: str | None = None, study_name: str | None = None,
               callbacks: list[Callable] | None = None, warm_start: bool = True,
               workers: int | None = None) -> tuple[optuna.Study, float]:
    """Run (or resume, or join) the Optuna search; returns the study and the wall time spent.

    ``trials`` bounds the number of new trials of this call (split among its workers; the time limit always
    applies); ``warm_start`` enqueues the contiguous heuristic's plan as the first trial of a study this call
    creates (so once per study, however many processes share it). ``workers`` processes search the study in
    ``storage`` at once: this one (with ``callbacks``) and ``workers - 1`` child processes, sampler seeds
    ``seed``, ``seed + 1``, ...; a process that joins a study another one created mixes its process id into the
    seed, so machines running the same command do not propose the same trials.
    """
    start = time.perf_counter()
    deadline = time.time() + time_limit_s
    count = workers or 1
    if count > 1 and storage is None:
        raise SolveError(f"--workers {count} runs {count} processes on one Optuna study: they share it through "
                         "--storage (e.g. sqlite:///search.db, journal:///search.log, postgresql://user@host/db) "
                         "and --study-name")
    study, created = make_study(problem, multi, seed, storage, study_name, deadline)
    space = plan_space(problem)
    if warm_start and created:
        warm = space.warm()
        if warm is not None:  # its parameters, and the plan itself: the trial evaluates it as given
            study.enqueue_trial(space.params(warm), user_attrs={"warm": _plain(warm)})
    if not created:
        seed = (seed + (os.getpid() << 8)) % 2**31
        study.sampler = _sampler(multi, seed)
        fail_stale_trials(study)  # a killed search's trial: FAIL (and retried), not RUNNING forever
    shares = _shares(trials, count)
    pool = _Workers(_Worker(problem, multi, seed, storage or "", study_name or "", None, deadline), shares) \
        if count > 1 else None
    try:
        _optimize(study, _Objective(space, multi), shares[0], deadline, callbacks)
    except BaseException:  # e.g. a callback stopping the search: the workers stop too
        if pool is not None:
            pool.stop()
        raise
    if pool is not None:
        pool.join(deadline)
    return study, time.perf_counter() - start


def _curve(problem: Problem, study: optuna.Study, wall_s: float, ended: datetime.datetime) -> tuple[Progress, ...]:
    """The best feasible objective after each trial of this run (``wall_s`` seconds up to ``ended``) that improved
    it (no bound: a heuristic)."""
    start = ended - datetime.timedelta(seconds=wall_s)
    trials = sorted((t for t in feasible_trials(study) if t.datetime_complete and t.datetime_complete >= start),
                    key=lambda t: t.datetime_complete)
    anytime, best = [], None
    for t in trials:
        value = problem.objective.pick(t.user_attrs["throughput"], t.user_attrs["latency_ms"], t.user_attrs["energy_mj"])
        if best is None or problem.objective.better(value, best):
            best = value
            anytime.append(Progress((t.datetime_complete - start).total_seconds(), best, None))
    return tuple(anytime)


LEADERS = 8  # the best feasible trials (by their recorded objective) priced again to pick the plan returned


def _leaders(problem: Problem, trials: list[optuna.trial.FrozenTrial]) -> list[optuna.trial.FrozenTrial]:
    """The ``LEADERS`` best of ``trials`` by the objective each recorded (pricing every feasible trial again took
    seconds past the time limit once most trials were feasible)."""
    def value(t: optuna.trial.FrozenTrial) -> float:
        v = problem.objective.pick(t.user_attrs["throughput"], t.user_attrs["latency_ms"], t.user_attrs["energy_mj"])
        return -v if problem.objective.maximise else v
    return sorted(trials, key=value)[:LEADERS]


def _solve(problem: Problem, multi: bool, time_limit_s: float, seed: int, options: dict) -> Outcome:
    study, wall_s = run_search(problem, multi, time_limit_s, seed, **options)
    ended = datetime.datetime.now()  # before the pricing below, so the curve's start is the search's
    done = len(study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,)))
    best = best_candidate(problem, [trial_groups(t) for t in _leaders(problem, feasible_trials(study))])
    sampler = "NSGA-II (latency, throughput, energy)" if multi else "TPE"
    where = f", study {study.study_name!r}" if options.get("storage") else ""
    where += f", {options['workers']} workers" if options.get("workers", 1) > 1 else ""
    if best is None:
        return Outcome(None, "time_limit", evaluations=done, note=f"Optuna {sampler}: no feasible trial in {done}{where}")
    return Outcome(best.groups, "feasible", evaluations=done, note=f"Optuna {sampler}, {done} trials{where}",
                   model_objective=best.plan.objective_value(), progress=_curve(problem, study, wall_s, ended))


def solve_tpe(problem: Problem, time_limit_s: float, seed: int, options: dict) -> Outcome:
    """Optuna TPE on the study's objective; the best feasible trial's plan (status ``feasible``: no bound).

    ``options``: ``trials``, ``storage``, ``study_name``, ``workers`` (see :func:`run_search`).
    """
    return _solve(problem, False, time_limit_s, seed, options)


def solve_nsga2(problem: Problem, time_limit_s: float, seed: int, options: dict) -> Outcome:
    """Optuna NSGA-II on latency, throughput and energy at once; the best feasible plan on the study's objective."""
    return _solve(problem, True, time_limit_s, seed, options)


def nsga2_front(problem: Problem, time_limit_s: float, seed: int, trials: int | None) -> tuple[list[Groups], str]:
    """NSGA-II on latency, throughput and energy: the groups of the study's non-dominated feasible trials, and a note."""
    study, _ = run_search(problem, True, time_limit_s, seed, trials)
    return [trial_groups(t) for t in pareto_trials(study)], f"NSGA-II, {len(study.trials)} trials"


def _worker_main() -> int:
    """``python -m accelplan.solvers.search``: one worker of a search (see :class:`_Workers`); 1 and the reason on
    stdout when it fails."""
    try:
        _work(pickle.load(sys.stdin.buffer))
    except Exception as exc:  # noqa: BLE001 - the parent raises it as a SolveError
        print(f"{type(exc).__name__}: {exc}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(_worker_main())
