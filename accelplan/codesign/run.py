"""Search the hardware with Optuna, each trial's plan solved exactly: ask a candidate, prune it when a larger
candidate's proven bound already loses, else solve it (in this process, or as a task on the sweeps' Dask cluster),
tell its objectives.

The Optuna study lives in a storage (a journal file by default, an RDB such as PostgreSQL for drivers on several
machines; :mod:`accelplan.solvers.storages`): a finished trial (complete or pruned) is written once, whole, when it
is told, so a run killed at any moment keeps every finished trial, and the same command resumes it, running only the
trials the spec still asks for. A trial the killed run was solving is failed by heartbeat and asked again (once, by
Optuna's retry callback). Solved candidates are also kept in the sweeps' point cache (by what they solve), so a
candidate sampled twice, or resumed, is not solved again.

Front neighbours: once the first trials are done, about every other trial is a candidate one step (one parameter
moved to an adjacent value) from a point of the current front, not tried yet and not pruned: a Pareto local search
move, which NSGA-II's and TPE's global proposals lack on small discrete spaces (without it, the shipped Versal study
missed the grid's best point by one PLIO step). The rest are the sampler's.

Pruning (the relaxation): a plan of a candidate runs on any candidate with at least its hardware (every ordered
parameter at least as large, the others equal), so the latter's proven bound bounds the former's optimum. Before a
candidate is solved, its optimistic objectives (the bound so obtained for the objective the plan optimises, the
spec's cost exactly, anything else unknown) are compared with the finished trials: when a feasible trial is at least
as good on every objective, or the bound already breaks a limit, the trial is pruned and says by which trial.
"""

from __future__ import annotations

import os
import random
import threading
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import optuna
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.trial import FrozenTrial, TrialState

from ..errors import SolveError, SpecError, SpecIssue, need
from ..solvers.storages import HEARTBEAT_S, create_or_load_study, fail_stale_trials, redacted
from ..sweep.cache import Outcome, PointCache
from ..sweep.run import PointTask, dask_client, solve_point
from .spec import BOUNDED, Candidate, Codesign, candidate, cost_of, dominates

#: a value Optuna stores for an objective a trial has none of (no plan): the worst, so no front holds it
WORST = 1e30
FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)
NEIGHBOUR_SHARE = 0.5  # of the trials after the first ones: a move from the front (where one is left)


def distributions(codesign: Codesign) -> dict[str, Any]:
    """Each parameter's Optuna distribution: a range as Int/Float (step or log), choices as their labels."""
    out: dict[str, Any] = {}
    for p in codesign.parameters:
        if p.choices:
            out[p.name] = CategoricalDistribution([label for label, _ in p.choices])
        elif p.integer:
            out[p.name] = IntDistribution(int(p.low), int(p.high), step=int(p.step or 1), log=p.log)
        else:
            out[p.name] = FloatDistribution(p.low, p.high, step=p.step, log=p.log)
    return out


def make_sampler(codesign: Codesign, seed: int) -> optuna.samplers.BaseSampler:
    """TPE (or GP, random) for one objective, NSGA-II for two or three, NSGA-III for four (or as the spec says);
    every sampler but random reads the trials' limits as their constraint (``Trial.set_constraint``)."""
    kind = codesign.sampler
    if kind == "auto":
        kind = "tpe" if len(codesign.goals) == 1 else "nsga2" if len(codesign.goals) <= 3 else "nsga3"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        if kind == "tpe":
            return optuna.samplers.TPESampler(seed=seed, multivariate=True,
                                              constant_liar=True, n_startup_trials=min(10, max(3, codesign.trials // 8)))
        if kind == "gp":
            need("torch", "the GP sampler (Optuna's GPSampler)")
            return optuna.samplers.GPSampler(seed=seed)
        if kind == "random":
            return optuna.samplers.RandomSampler(seed=seed)
        population = max(8, min(50, codesign.trials // 6))
        if kind == "nsga3":
            return optuna.samplers.NSGAIIISampler(seed=seed, population_size=population)
        return optuna.samplers.NSGAIISampler(seed=seed, population_size=population)


def signature(codesign: Codesign) -> str:
    """What a study searched: its base study, parameters and objectives (a study of another is refused)."""
    params = ";".join(f"{p.name}={[label for label, _ in p.choices] if p.choices else (p.low, p.high, p.step, p.log)}"
                      for p in codesign.parameters)
    goals = ",".join(f"{g.metric}:{g.direction}" for g in codesign.goals)
    s = codesign.study
    return f"{s.model.name}/{s.hardware.name}/{s.execution}/{s.spec.objective}/{params}/{goals}"


def open_study(codesign: Codesign, storage: str | None, seed: int | None = None) -> optuna.Study:
    """Create the study, or load the one of this name in ``storage`` when it searched the same space."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    directions = [g.direction for g in codesign.goals]
    sampler = make_sampler(codesign, codesign.seed if seed is None else seed)
    study, created = create_or_load_study(storage, codesign.name, sampler, directions)
    if not created:  # another process's (or an earlier run's) study: its own sampler seed, so drivers do not propose alike
        study.sampler = make_sampler(codesign, (codesign.seed + (os.getpid() << 8)) % 2**31)
    known = study.user_attrs.get("codesign")
    mine = signature(codesign)
    if known is not None and known != mine:
        raise SolveError(f"Optuna study {codesign.name!r} in {redacted(storage or '')} searched another space "
                         f"({known}); this spec's is {mine}: change the spec's name or use another --storage")
    found = [d.name.lower() for d in study.directions]
    if found != directions:
        raise SolveError(f"Optuna study {codesign.name!r} in {redacted(storage or '')} was searched in the directions "
                         f"{found}; this spec needs {directions}: change its name or use another --storage")
    if known is None:
        study.set_user_attr("codesign", mine)
        with warnings.catch_warnings():  # experimental in Optuna 5: the objectives' names, as optuna-dashboard shows
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            study.set_metric_names([g.metric for g in codesign.goals])
    return study


@dataclass(frozen=True)
class Evaluated:
    """What a trial found: its metrics (None where the candidate has none), its limit violation and facts."""

    metrics: dict[str, float | None]
    violation: float
    status: str  # optimal | feasible | infeasible | time_limit | unsupported | invalid | pruned
    bound: float | None  # the proven bound of the study objective (its units)
    message: str
    solve_s: float
    cached: bool


def metrics_of(codesign: Codesign, values: dict[str, Any], outcome: Outcome) -> dict[str, float | None]:
    """Every metric of a solved candidate (None where its plan has none)."""
    plan = outcome.plan
    ok = plan is not None and plan.feasible
    serving = plan.serving if ok else None
    out: dict[str, float | None] = {
        "throughput": plan.throughput if ok else None,
        "tokens_per_s": serving.tokens_per_s if serving else (plan.throughput if ok else None),
        "latency_ms": plan.latency_ms if ok else None,
        "energy_mj": plan.energy_mj if ok else None,
        "power_w": plan.energy_mj * plan.throughput / 1e3 if ok and plan.energy_mj is not None
        and plan.throughput is not None else None,
        "ttft_ms": serving.ttft_ms if serving else None,
        "joules_per_token": serving.joules_per_token if serving else None,
        "hardware_cost": outcome.cost.value if outcome.cost is not None else None,
        "cost": cost_of(codesign, values) if codesign.cost else None,
    }
    return out


def violation(codesign: Codesign, metrics: dict[str, float | None], has_plan: bool) -> float:
    """How far a candidate is outside the limits (relative, summed; 0 inside), 1 at least without a plan."""
    total = 0.0 if has_plan else 1.0
    for metric, (low, high) in codesign.limits.items():
        value = metrics.get(metric)
        if value is None:
            total += 1.0 if has_plan else 0.0
            continue
        if low is not None and value < low:
            total += (low - value) / max(abs(low), 1e-12)
        if high is not None and value > high:
            total += (value - high) / max(abs(high), 1e-12)
    return total


def objective_values(codesign: Codesign, metrics: dict[str, float | None]) -> list[float]:
    """The values Optuna is told: each goal's metric, the worst for a missing one."""
    return [metrics[g.metric] if metrics.get(g.metric) is not None else (-WORST if g.maximize else WORST)
            for g in codesign.goals]


def _feasible(trial: FrozenTrial) -> bool:
    return trial.state == TrialState.COMPLETE and trial.user_attrs.get("violation", 1.0) <= 1e-12


def _better_or_equal(maximize: bool, a: float, b: float) -> bool:
    return a >= b if maximize else a <= b


def prune_reason(codesign: Codesign, values: dict[str, Any], finished: list[FrozenTrial]) -> tuple[str, float | None] | None:
    """Why the candidate ``values`` cannot improve the front (the reason and the bound it reads), or None.

    Its bound: the best proven bound among finished trials with at least its hardware (:func:`dominates`); an
    infeasible one among them proves it infeasible. Its optimistic objectives: that bound for the metrics the
    study objective bounds, the cost exactly, the others unknown (no pruning through them)."""
    objective = codesign.study.spec.objective
    maximize = objective == "throughput"
    if codesign.cost and "cost" in codesign.limits:  # known before any solve
        cost, (low, high) = cost_of(codesign, values), codesign.limits["cost"]
        if (low is not None and cost < low) or (high is not None and cost > high):
            return f"its cost {cost:g} is outside the limit", None
    bound, by = None, None
    for t in finished:
        if t.state != TrialState.COMPLETE or not dominates(codesign, t.params, values):
            continue
        if t.user_attrs.get("status") == "infeasible":
            return f"infeasible: trial {t.number} has at least its hardware and no plan exists there", None
        b = t.user_attrs.get("bound")
        if b is not None and (bound is None or (b < bound if maximize else b > bound)):
            bound, by = float(b), t.number
    if bound is None:
        return None
    optimistic: dict[str, float] = {}
    for metric, what in BOUNDED.items():
        if what == objective:
            optimistic[metric] = bound
    if codesign.cost:
        optimistic["cost"] = cost_of(codesign, values)
    for metric, (low, high) in codesign.limits.items():
        v = optimistic.get(metric)
        if v is not None and ((low is not None and v < low and maximize) or (high is not None and v > high
                                                                             and not maximize)):
            return f"its bound {bound:.6g} (trial {by}'s, at least its hardware) breaks the limit on {metric}", bound
    if not all(g.metric in optimistic for g in codesign.goals):
        return None
    mine = [optimistic[g.metric] for g in codesign.goals]
    for t in finished:
        if _feasible(t) and all(_better_or_equal(g.maximize, v, m) for g, v, m in zip(codesign.goals, t.values, mine)):
            return (f"trial {t.number} is at least as good on every objective as its bound ({bound:.6g}, from trial "
                    f"{by}, which has at least its hardware) allows", bound)
    return None


@dataclass
class CodesignRun:
    """How a run went: the study, the trials it finished, pruned and solved, the wall time."""

    study: optuna.Study
    storage: str | None
    new: int
    pruned: int
    solved: int
    cached: int
    wall_s: float
    workers: int


class _Heartbeats:
    """Records a heartbeat of every trial in flight each ``HEARTBEAT_S`` (ask-and-tell runs no Optuna heartbeat
    thread), so a driver on the same study fails only a dead driver's trials."""

    def __init__(self, study: optuna.Study) -> None:
        self._storage = study._storage
        self._ids: set[int] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, daemon=True)
        self._on = hasattr(self._storage, "record_heartbeat") and bool(
            getattr(self._storage, "get_heartbeat_interval", lambda: None)())
        if self._on:
            self._thread.start()

    def add(self, trial_id: int) -> None:
        with self._lock:
            self._ids.add(trial_id)

    def remove(self, trial_id: int) -> None:
        with self._lock:
            self._ids.discard(trial_id)

    def _beat(self) -> None:
        while not self._stop.wait(HEARTBEAT_S / 2):
            with self._lock:
                ids = list(self._ids)
            for i in ids:
                try:
                    self._storage.record_heartbeat(i)
                except Exception:  # noqa: BLE001 - a finished trial (told meanwhile) takes none
                    pass

    def stop(self) -> None:
        self._stop.set()
        if self._on:
            self._thread.join()


def _finished(study: optuna.Study) -> list[FrozenTrial]:
    return study.get_trials(deepcopy=False, states=FINISHED)


def _record(trial: optuna.Trial | FrozenTrial, study: optuna.Study, ev: Evaluated, cand: Candidate | None) -> None:
    attrs = {"status": ev.status, "bound": ev.bound, "violation": ev.violation, "message": ev.message[:500],
             "solve_s": round(ev.solve_s, 4), "cached": ev.cached, "key": cand.key if cand is not None else None,
             **{f"m:{k}": v for k, v in ev.metrics.items() if v is not None}}
    for k, v in attrs.items():
        study._storage.set_trial_user_attr(trial._trial_id, k, v)


def _evaluated(codesign: Codesign, values: dict[str, Any], outcome: Outcome, cached: bool) -> Evaluated:
    plan = outcome.plan
    metrics = metrics_of(codesign, values, outcome)
    status = plan.solver.status if plan is not None else "unsupported"
    bound = plan.solver.bound if plan is not None else None
    if plan is not None and plan.solver.status == "optimal" and bound is None:
        bound = plan.objective_value()
    return Evaluated(metrics, violation(codesign, metrics, plan is not None and plan.feasible), status, bound,
                     outcome.message, outcome.wall_s, cached)


def run_codesign(codesign: Codesign, storage: str | None, cache: PointCache, workers: int | None = None,
                 scheduler: str | None = None, progress: Callable[[str], None] | None = None,
                 trials: int | None = None) -> CodesignRun:
    """Run (or resume) the study until it holds ``trials`` (default: the spec's) finished trials.

    ``workers`` > 1 or a ``scheduler`` solve candidates as tasks on Dask (the sweeps' client: an embedded
    LocalCluster or a running scheduler), as many in flight as it has threads; otherwise in this process."""
    start = time.perf_counter()
    step = progress or (lambda text: None)
    study = open_study(codesign, storage)
    fail_stale_trials(study)
    target = codesign.trials if trials is None else trials
    have = len(_finished(study))
    step(f"{have} of {target} trials finished before this run")
    counts = {"new": 0, "pruned": 0, "solved": 0, "cached": 0}
    dists = distributions(codesign)
    beats = _Heartbeats(study)
    used = 1
    try:
        if (workers or 1) > 1 or scheduler:
            with dask_client(workers, scheduler, min(10.0, codesign.time_limit_s)) as client:
                used = len(client.nthreads())
                _run_dask(codesign, study, dists, cache, client, target, counts, beats, step)
        else:
            rng, taken = random.Random(codesign.seed), set()
            while len(_finished(study)) < target:
                trial = _next_trial(codesign, study, dists, rng, taken)
                beats.add(trial._trial_id)
                prepared = _prepare(codesign, study, trial, cache, counts)
                if prepared is not None:
                    cand = prepared
                    outcome = solve_point(PointTask(cand.study, codesign.strategy, codesign.time_limit_s,
                                                    codesign.seed, cand.run))
                    cache.keep(cand.key, outcome)
                    counts["solved"] += 1
                    _tell(codesign, study, trial, cand, _evaluated(codesign, trial.params, outcome, False), counts)
                beats.remove(trial._trial_id)
                step(f"trial {trial.number} done")
    finally:
        beats.stop()
    return CodesignRun(study, storage, counts["new"], counts["pruned"], counts["solved"], counts["cached"],
                       time.perf_counter() - start, used)


def _ask(study: optuna.Study, dists: dict[str, Any]) -> optuna.Trial:
    with warnings.catch_warnings():  # heartbeats are recorded by _Heartbeats here, not by Study.optimize
        warnings.simplefilter("ignore", UserWarning)
        return study.ask(dists)


def _values_key(values: dict[str, Any]) -> tuple:
    return tuple(sorted((k, repr(v)) for k, v in values.items()))


def neighbour(codesign: Codesign, study: optuna.Study, rng: random.Random, taken: set[tuple]) -> dict[str, Any] | None:
    """A candidate one step from a point of the current front (one parameter moved to an adjacent value), not tried
    yet nor pruned: a Pareto local search move, which the samplers' global proposals lack on small discrete spaces.
    None when every front point's neighbours are tried."""
    from .results import front, rows

    finished = _finished(study)
    tried = taken | {_values_key(t.params) for t in study.get_trials(deepcopy=False)}
    points = front(codesign, rows(study))
    rng.shuffle(points)
    values_of = {}
    for p in codesign.parameters:
        try:
            values_of[p.name] = p.grid()
        except ValueError:  # a continuous range: no adjacent value
            continue
    for point in points:
        moves = [(name, i) for name, grid in values_of.items() for i in (-1, 1)]
        rng.shuffle(moves)
        for name, step in moves:
            grid = values_of[name]
            here = point.params.get(name)
            if here not in grid:
                continue
            j = grid.index(here) + step
            if not 0 <= j < len(grid):
                continue
            values = dict(point.params, **{name: grid[j]})
            key = _values_key(values)
            if key in tried:
                continue
            tried.add(key)
            if codesign.prune and prune_reason(codesign, values, finished) is not None:
                continue
            return values
    return None


def _next_trial(codesign: Codesign, study: optuna.Study, dists: dict[str, Any], rng: random.Random,
                taken: set[tuple]) -> optuna.Trial:
    """Every other trial once the first ones are done is a front neighbour (:func:`neighbour`) where one is left;
    the others are the sampler's. A trial a dead driver left running is failed first (and asked again)."""
    fail_stale_trials(study)  # at most once a heartbeat interval (the storage keeps the time)
    done = len(_finished(study))
    if done >= max(8, codesign.trials // 8) and rng.random() < NEIGHBOUR_SHARE:
        values = neighbour(codesign, study, rng, taken)
        if values is not None:
            study.enqueue_trial(values, user_attrs={"move": "front neighbour"})
    trial = _ask(study, dists)
    taken.add(_values_key(trial.params))
    return trial


def _prepare(codesign: Codesign, study: optuna.Study, trial: optuna.Trial, cache: PointCache,
             counts: dict[str, int]) -> Candidate | None:
    """The candidate to solve, or None when the trial is told already (invalid hardware, pruned, cached)."""
    values = trial.params
    try:
        cand = candidate(codesign, values, trial.number)
    except SpecError as exc:
        message = "; ".join(i.message for i in exc.issues)
        metrics = {"cost": cost_of(codesign, values) if codesign.cost else None}
        _tell(codesign, study, trial, None, Evaluated(metrics, 1.0, "invalid", None, message, 0.0, False), counts)
        return None
    if codesign.prune:
        reason = prune_reason(codesign, values, _finished(study))
        if reason is not None:
            why, bound = reason
            study._storage.set_trial_user_attr(trial._trial_id, "status", "pruned")
            study._storage.set_trial_user_attr(trial._trial_id, "message", why)
            study._storage.set_trial_user_attr(trial._trial_id, "bound", bound)
            study._storage.set_trial_user_attr(trial._trial_id, "key", cand.key)
            study.tell(trial, state=TrialState.PRUNED)
            counts["pruned"] += 1
            counts["new"] += 1
            return None
    outcome = cache.get(cand.key)
    if outcome is not None:
        counts["cached"] += 1
        _tell(codesign, study, trial, cand, _evaluated(codesign, values, outcome, True), counts)
        return None
    return cand


def _tell(codesign: Codesign, study: optuna.Study, trial: optuna.Trial, cand: Candidate | None, ev: Evaluated,
          counts: dict[str, int]) -> None:
    _record(trial, study, ev, cand)
    try:
        trial.set_constraint("limits", ev.violation)
        study.tell(trial, objective_values(codesign, ev.metrics))
    except optuna.exceptions.UpdateFinishedTrialError:
        return  # failed meanwhile by another driver (its heartbeat went stale): asked again
    counts["new"] += 1


def _run_dask(codesign: Codesign, study: optuna.Study, dists: dict[str, Any], cache: PointCache, client: Any,
              target: int, counts: dict[str, int], beats: _Heartbeats, step: Callable[[str], None]) -> None:
    """Keep one candidate in flight per Dask thread; tell each as it finishes."""
    from distributed import wait

    slots = max(1, sum(client.nthreads().values()))
    flying: dict[Any, tuple[optuna.Trial, Candidate]] = {}
    rng, taken = random.Random(codesign.seed), set()
    while True:
        while len(flying) < slots and len(_finished(study)) + len(flying) < target:
            trial = _next_trial(codesign, study, dists, rng, taken)
            beats.add(trial._trial_id)
            cand = _prepare(codesign, study, trial, cache, counts)
            if cand is None:
                beats.remove(trial._trial_id)
                step(f"trial {trial.number} done")
                continue
            task = PointTask(cand.study, codesign.strategy, codesign.time_limit_s, codesign.seed, cand.run)
            future = client.submit(solve_point, task, key=f"accelplan-codesign-{trial.number}-{cand.key[:12]}",
                                   pure=False, retries=2)
            flying[future] = (trial, cand)
        if not flying:
            return
        done = wait(list(flying), return_when="FIRST_COMPLETED").done
        for future in done:
            trial, cand = flying.pop(future)
            try:
                outcome = future.result()
            except Exception as exc:  # noqa: BLE001 - the cluster lost it: the trial fails and is asked again
                study.tell(trial, state=TrialState.FAIL)
                step(f"trial {trial.number} failed on the cluster: {type(exc).__name__}: {exc}")
            else:
                cache.keep(cand.key, outcome)
                counts["solved"] += 1
                _tell(codesign, study, trial, cand, _evaluated(codesign, trial.params, outcome, False), counts)
                step(f"trial {trial.number} done")
            beats.remove(trial._trial_id)
            future.release()


def default_storage(folder: Any) -> str:
    """The journal file a run keeps its study in when no storage is given: ``<out>/codesign.log``."""
    from pathlib import Path

    return "journal:///" + str((Path(folder) / "codesign.log").resolve())


def check_trials(trials: int | None) -> None:
    if trials is not None and (isinstance(trials, bool) or trials < 1):
        raise SpecError("<command line>", [SpecIssue(f"expected a positive number of trials, got {trials!r}",
                                                     "--trials")])

