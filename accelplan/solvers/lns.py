"""The ``lns`` strategy: large-neighbourhood search on pipeline and segment plans, for when exact search does not finish.

1. Start: the plan passed as ``incumbent`` (groups, e.g. another strategy's) when it is feasible, else
   the best quick plan: on any-order plans the exact strategy ``auto`` picks (colgen for throughput,
   milp otherwise) stopped at half the time limit; dp's contiguous optimum within a quarter of the
   time left (a contiguous plan is a plan of every pipeline execution model: on contiguous execution
   models and on segment plans it is the start; on any-order plans it runs when the first gives
   nothing); else the contiguous heuristic.
2. Move: free some accelerators (a run of consecutive segments on a segment plan) and re-optimise
   their layers exactly, the rest kept as it is. The freed layers form a :class:`Restriction`, a
   :class:`~accelplan.problem.Problem` of its own that the exact strategies solve unchanged. Pipeline
   plans: its budgets are what the kept accelerators leave, its slots the accelerators freed plus the
   unused ones, its DDR floor on the period the kept accelerators' longest stage (so its period is the
   whole plan's), its latency bound the bound less the kept stage times (so its latency is the whole
   plan's less a constant); energy differs by a constant too. Segment plans: the batch time and energy
   are sums over segments, so the sliced chain's objective is the whole plan's less a constant. Hence
   the sub-problem's optimum is the best plan of the neighbourhood. Its strategy is the registry's
   ``auto`` choice (dp on contiguous and segment plans, colgen on any-order plans under the throughput
   objective, milp otherwise), run for at most ``MOVE_SHARE`` of the time limit (a run stopped early
   gives its incumbent; one still running at twice its time is stopped by :func:`watchdog`).
3. Neighbourhoods: sets of ``k`` units, from ``k = FIRST_SIZE`` (3 accelerators; 2 segments). Under the
   throughput objective every accelerator whose stage sets the period is in the set (no other move can
   shorten it); contiguous (spatial) plans free ``k`` consecutive accelerators, so that the freed layers
   are consecutive. The sets of size ``k`` are tried in a seeded random order; a better plan (objective
   better by more than ``IMPROVEMENT`` relative, or equal with a lexicographically shorter sorted list of
   stage times, so the pipeline is balanced for the next move) is accepted and ``k`` starts again; when
   every set of size ``k`` failed, ``k`` grows. The largest neighbourhood frees everything: the whole
   problem, whose proven optimum ends the search as ``optimal``; so does a pipeline plan whose period is
   the DDR time per input under the throughput objective (no plan is faster).

Seeded and repeatable when every sub-problem finishes within its time (``moves`` bounds the
re-optimisations); the anytime curve records the start and every accepted plan. Plans are priced only
by the shared evaluator (:func:`accelplan.plan.evaluate`). Device chains are not covered (dp solves
them exactly in seconds).
"""

from __future__ import annotations

import itertools
import random
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace

import numpy as np

from ..errors import SolveError
from ..execution.pipeline import stage_times, usage
from ..execution.segments import SegmentGroup
from ..plan import Anytime, Groups, Outcome, Plan, better, evaluate, metrics
from ..problem import Problem
from .contiguous import Candidate, best_candidate, best_contiguous

START_SHARE = 0.25  # of the time left, at most, for dp's contiguous start
ANY_ORDER_START_SHARE = 0.5  # of the time left, for auto's exact strategy on any-order plans (colgen: the stronger
# anytime method there; lns then polishes its incumbent)
MOVE_SHARE = 0.2  # of the time limit, at most, for one re-optimisation
MOVE_MIN_S = 1.0  # a re-optimisation gets at least this much (when the time left allows)
IMPROVEMENT = 1e-9  # relative: a plan better by less is a tie
GRACE_S = 0.5  # a solver still running this long after twice its time limit is stopped


class _Overrun(Exception):
    """A solver ran past twice its time limit (and the grace): its run is abandoned."""


@contextmanager
def watchdog(seconds: float) -> Iterator[None]:
    """Raise :class:`_Overrun` in the code run within, ``seconds`` from now (a SIGALRM timer; the main thread
    only, elsewhere a no-op): a guard against a sub-solver that overruns its own time limit by far. colgen's
    pricing knapsack once checked no clock within a call, which on some sub-problems ran for minutes; it now
    looks at its deadline, and the guard stays for any solver step that does not."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def fire(signum: int, frame: object) -> None:
        raise _Overrun

    previous = signal.signal(signal.SIGALRM, fire)
    signal.setitimer(signal.ITIMER_REAL, max(seconds, 1e-3))
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@dataclass(frozen=True)
class Restriction:
    """The sub-problem of re-planning the freed layers (module docstring, step 2).

    ``layers[i]`` is the layer of ``problem`` that the sub-problem's layer ``i`` is; ``kept`` are the
    groups left as they are. Segment plans free a run of consecutive segments: the sub-plan's segments
    are numbered from ``first_segment``, and the kept segments after the run (``freed_segments`` of
    them were freed) are renumbered after the sub-plan's."""

    problem: Problem
    layers: tuple[int, ...]
    kept: Groups
    first_segment: int = 0
    freed_segments: int = 0

    def expand(self, sub_groups: Groups) -> Groups:
        """The whole plan: the kept groups and the sub-problem's, in the problem's layer indices."""
        sub_groups = self.problem.form.typed(sub_groups)
        layers = [tuple(self.layers[l] for l in g.layers) for g in sub_groups]
        if not self.freed_segments:
            return self.kept + tuple(g._replace(layers=ls) for g, ls in zip(sub_groups, layers))
        mapped = tuple(g._replace(layers=ls, segment=g.segment + self.first_segment) for g, ls in zip(sub_groups, layers))
        shift = len({g.segment for g in sub_groups}) - self.freed_segments
        kept = tuple(g._replace(segment=g.segment + shift) if g.segment > self.first_segment else g for g in self.kept)
        return kept + mapped


def _restrict_pipeline(problem: Problem, groups: Groups, freed: tuple[int, ...]) -> Restriction:
    """Accelerators ``freed`` (indices into ``groups``) as a problem of their own (module docstring, step 2)."""
    groups = problem.form.typed(groups)
    kept = tuple(g for i, g in enumerate(groups) if i not in freed)
    layers = tuple(sorted(l for i in freed for l in groups[i].layers))
    idx = list(layers)
    busy = stage_times(problem, kept)
    used = usage(problem, kept)
    latency_max = problem.latency_max_s - sum(busy) if problem.latency_max_s is not None else None
    sub = replace(problem, name=f"{problem.name} (lns window)", layers=tuple(problem.layers[l] for l in idx),
                  time_s=problem.time_s[idx], energy_j=problem.energy_j[idx],
                  capacity=np.maximum(problem.capacity - used, 0.0),
                  max_accelerators=problem.accelerator_slots - len(kept),
                  ddr_period_s=max([problem.ddr_period_s, *busy]),
                  latency_max_s=latency_max)
    return Restriction(sub, layers, kept)


def _restrict_segments(problem: Problem, groups: Groups, freed: tuple[int, ...]) -> Restriction:
    """Segments ``freed`` (consecutive) as a chain of their own: the tables sliced to their layers ``i..j-1`` and
    the DRAM crossings at cut points ``i..j``. A plan's batch time and energy are sums over its segments (plus the
    output written, which the sub-chain's end at ``j`` stands for), so the sub-problem's objective is the whole
    plan's less a constant; a latency bound (and throughput_min, as a bound on the batch time) is carried over
    less that constant."""
    groups = problem.form.typed(groups)
    inside = tuple(g for g in groups if g.segment in freed)
    kept = tuple(g for g in groups if g.segment not in freed)
    i = min(l for g in inside for l in g.layers)
    j = max(l for g in inside for l in g.layers) + 1
    t = problem.segments
    sub = replace(problem, name=f"{problem.name} (lns window)", layers=problem.layers[i:j],
                  time_s=problem.time_s[i:j], energy_j=problem.energy_j[i:j], latency_max_s=None, throughput_min=None,
                  tables=replace(t, mappings=t.mappings[i:j], sram_weight_bytes=t.sram_weight_bytes[i:j],
                                   sram_buffer_bytes=t.sram_buffer_bytes[i:j], weight_bytes=t.weight_bytes[i:j],
                                   boundary_bytes=t.boundary_bytes[i:j + 1]))
    first = min(freed)
    current = tuple(SegmentGroup(c, tuple(l - i for l in ls), s - first) for c, ls, s in inside)
    floor_time = problem.batch / problem.throughput_min if problem.throughput_min else None
    caps = [x for x in (problem.latency_max_s, floor_time) if x is not None]
    if caps:
        rest_s = metrics(problem, groups, False).latency_s - metrics(sub, current, False).latency_s
        sub = replace(sub, latency_max_s=min(caps) - rest_s)
    return Restriction(sub, tuple(range(i, j)), kept, first, len(freed))


def contiguous_restriction(problem: Problem) -> Problem:
    """The problem restricted to contiguous plans (itself when its execution model already is)."""
    if problem.execution.contiguous:
        return problem
    return replace(problem, execution=replace(problem.execution, contiguous=True))


def _exact_solver(problem: Problem) -> Callable[[Problem, float, int, dict], Outcome]:
    """The solver function of the exact strategy ``auto`` picks for ``problem`` (sweeps aside: unbounded)."""
    from .registry import STRATEGIES, auto
    return STRATEGIES[auto(problem)].solver_for(problem)


def _layer_order(groups: Groups) -> list[int]:
    """Accelerator indices in layer order (for windows of consecutive accelerators)."""
    return sorted(range(len(groups)), key=lambda i: min(groups[i].layers))


class Moves:
    """What a move frees on one plan form: its units, the sets of them tried, and the sub-problem they leave."""

    first_size: int  # the smallest neighbourhood, in units freed (units: the plan form's ``slots_used``)

    def neighbourhoods(self, problem: Problem, groups: Groups, size: int, rng: random.Random) -> Iterator[tuple[int, ...]]:
        """The sets of ``size`` units (module docstring, step 3) a move of that size frees, in a seeded order."""
        raise NotImplementedError

    def restrict(self, problem: Problem, groups: Groups, freed: tuple[int, ...]) -> Restriction:
        raise NotImplementedError

    def at_floor(self, problem: Problem, plan: Plan) -> bool:
        """Whether no plan can beat ``plan`` for a reason the form knows (then it is optimal); none by default."""
        return False

    def fallback(self, problem: Problem) -> Groups | None:
        """A start plan when the exact strategies found none; none by default."""
        return None


class PipelineMoves(Moves):
    """Free accelerators (indices into the groups)."""

    first_size = 3

    def neighbourhoods(self, problem: Problem, groups: Groups, size: int, rng: random.Random) -> Iterator[tuple[int, ...]]:
        """Under the throughput objective each set holds every accelerator whose stage sets the period; on
        contiguous execution the freed accelerators are consecutive in layer order."""
        n = len(groups)
        busy = stage_times(problem, groups)
        period = max(busy)
        must = {i for i in range(n) if problem.objective == "throughput" and busy[i] >= period * (1 - IMPROVEMENT)}
        if problem.execution.contiguous:
            order = _layer_order(groups)
            sets = [tuple(order[s:s + size]) for s in range(n - size + 1)]
        else:
            sets = [tuple(s) for s in itertools.combinations(range(n), size)]
        sets = [s for s in sets if must <= set(s)]
        rng.shuffle(sets)
        yield from sets

    def restrict(self, problem: Problem, groups: Groups, freed: tuple[int, ...]) -> Restriction:
        return _restrict_pipeline(problem, groups, freed)

    def at_floor(self, problem: Problem, plan: Plan) -> bool:
        """The period is the DDR time per input under the throughput objective: no plan's period is below it."""
        return (problem.objective == "throughput" and problem.ddr_period_s > 0
                and plan.period_ms / 1e3 <= problem.ddr_period_s * (1 + IMPROVEMENT))

    def fallback(self, problem: Problem) -> Groups | None:
        """The contiguous heuristic's plan."""
        heuristic = best_contiguous(problem)
        return heuristic.groups if heuristic is not None else None


class SegmentMoves(Moves):
    """Free runs of consecutive segments."""

    first_size = 2

    def neighbourhoods(self, problem: Problem, groups: Groups, size: int, rng: random.Random) -> Iterator[tuple[int, ...]]:
        n = problem.form.slots_used(groups)
        sets = [tuple(range(s, s + size)) for s in range(n - size + 1)]
        rng.shuffle(sets)
        yield from sets

    def restrict(self, problem: Problem, groups: Groups, freed: tuple[int, ...]) -> Restriction:
        return _restrict_segments(problem, groups, freed)


def _better_plan(problem: Problem, new: Plan, old: Plan) -> bool:
    """``new`` beats ``old``: a better objective by more than ``IMPROVEMENT``, or a tie with shorter stages."""
    a, b = new.objective_value(), old.objective_value()
    if better(problem.objective, a, b * (1 + IMPROVEMENT) if problem.objective.maximise else b * (1 - IMPROVEMENT)):
        return True
    if better(problem.objective, b, a * (1 - IMPROVEMENT) if problem.objective.maximise else a * (1 + IMPROVEMENT)):
        return False
    scale = max(acc.busy_ms for acc in old.accelerators) * IMPROVEMENT
    stages = lambda p: sorted((round(acc.busy_ms / scale) for acc in p.accelerators), reverse=True)  # noqa: E731
    return stages(new) < stages(old)


def _tighter(problem: Problem, a: float | None, b: float | None) -> float | None:
    """The tighter of two bounds on the optimum (None: none)."""
    if a is None or b is None:
        return b if a is None else a
    return min(a, b) if problem.objective.maximise else max(a, b)


@dataclass
class Search:
    """The search state: the incumbent, the clock, the anytime curve and the moves made."""

    problem: Problem
    moves_of: Moves
    deadline: float
    time_limit_s: float
    seed: int
    max_moves: int | None
    best: Candidate
    anytime: Anytime
    moves: int = 0
    accepted: int = 0
    proven: bool = False
    bound: float | None = None  # proven for the whole problem (objective units)

    def left(self) -> float:
        return self.deadline - time.perf_counter()

    def record(self) -> None:
        self.anytime.note(self.best.plan.objective_value(), self.bound)

    def move(self, freed: tuple[int, ...]) -> bool:
        """Re-optimise the units ``freed``; True when a better plan was found (it becomes the incumbent)."""
        self.moves += 1
        window = self.moves_of.restrict(self.problem, self.best.groups, freed)
        whole = not window.kept
        budget = self.left() if whole else min(self.left(), max(MOVE_MIN_S, MOVE_SHARE * self.time_limit_s))
        try:
            solver = _exact_solver(window.problem)
        except SolveError:
            return False
        outcome = _timed(window.problem, solver, budget, self.seed)
        if outcome is None:
            return False
        if whole:
            self.proven = self.proven or outcome.status == "optimal"
            self.bound = _tighter(self.problem, self.bound, outcome.bound)
        if outcome.groups is None:
            return False
        groups = window.expand(outcome.groups)
        plan = evaluate(self.problem, groups)
        if not plan.feasible or not _better_plan(self.problem, plan, self.best.plan):
            return False
        self.best = Candidate(groups, plan)
        self.accepted += 1
        self.record()
        return True

    def at_floor(self) -> bool:
        """Whether the form knows that no plan beats the incumbent (then it is optimal)."""
        return self.moves_of.at_floor(self.problem, self.best.plan)

    def run(self) -> None:
        """Variable neighbourhood descent over the sizes of the freed sets (module docstring, step 3)."""
        if self.at_floor():
            self.proven = True
            return
        rng = random.Random(self.seed)
        first = self.moves_of.first_size
        size = first
        while not self.proven and self.left() > 0:
            slots = self.problem.form.slots_used(self.best.groups)
            size = min(size, slots)
            improved = False
            for freed in self.moves_of.neighbourhoods(self.problem, self.best.groups, size, rng):
                if self.left() <= 0 or (self.max_moves is not None and self.moves >= self.max_moves):
                    return
                if self.move(freed):
                    improved = True
                    self.proven = self.proven or self.at_floor()
                    break
                if self.proven:
                    return
            if improved:
                size = first
            elif size >= slots:
                return
            else:
                size += 1


def _timed(problem: Problem, solver: Callable[[Problem, float, int, dict], Outcome], budget_s: float,
           seed: int) -> Outcome | None:
    """``solver`` on ``problem`` within ``budget_s``; None when it failed, or ran past twice that (the watchdog:
    colgen's own clock lets it overrun by a few seconds, which is kept)."""
    budget_s = max(0.05, budget_s)
    try:
        with watchdog(2 * budget_s + GRACE_S):
            return solver(problem, budget_s, seed, {})
    except (SolveError, _Overrun):
        return None


@dataclass(frozen=True)
class Start:
    """The start plan (None: none found), whether it is proven optimal, and a bound on the problem's optimum
    (objective units; None: none) from an exact strategy run on the problem itself."""

    candidate: Candidate | None
    proven: bool = False
    bound: float | None = None


def start(problem: Problem, moves: Moves, deadline: float, seed: int, incumbent: Groups | None) -> Start:
    """The best quick plan (module docstring, step 1)."""
    from .registry import STRATEGIES
    given = best_candidate(problem, [incumbent]) if incumbent is not None else None
    if given is not None:  # an infeasible warm start is ignored
        return Start(given)
    found: list[Groups] = []
    proven, bound = False, None
    if not problem.execution.contiguous:  # any-order plans: auto's exact strategy, stopped early
        outcome = _timed(problem, _exact_solver(problem), ANY_ORDER_START_SHARE * (deadline - time.perf_counter()),
                         seed)
        if outcome is not None and outcome.groups is not None:
            found.append(outcome.groups)
            proven, bound = outcome.status == "optimal", outcome.bound
    contiguous = contiguous_restriction(problem)
    if (problem.execution.contiguous or not found) and STRATEGIES["dp"].reason(contiguous) is None:
        outcome = _timed(contiguous, STRATEGIES["dp"].solver_for(contiguous), START_SHARE * (deadline - time.perf_counter()),
                         seed)
        if outcome is not None and outcome.groups is not None:
            found.append(outcome.groups)
            if contiguous is problem:  # else dp solved a restriction: its bound is not the problem's
                proven, bound = outcome.status == "optimal", outcome.bound
    if not found:
        found += [g for g in (moves.fallback(problem),) if g is not None]
    best = best_candidate(problem, found)
    return Start(best, proven and best is not None, bound)


def solve_pipeline(problem: Problem, time_limit_s: float, seed: int, options: dict) -> Outcome:
    """lns on a pipeline plan: moves free accelerators."""
    return solve_lns(problem, PipelineMoves(), time_limit_s, seed, options)


def solve_segments(problem: Problem, time_limit_s: float, seed: int, options: dict) -> Outcome:
    """lns on a segment plan: moves free runs of consecutive segments."""
    return solve_lns(problem, SegmentMoves(), time_limit_s, seed, options)


def solve_lns(problem: Problem, moves: Moves, time_limit_s: float, seed: int, options: dict) -> Outcome:
    """Large-neighbourhood search from the best quick plan (module docstring); ``options``: ``moves``, ``incumbent``.

    The bound reported is the one the start's exact strategy (or a move that frees everything) proved for
    the whole problem, when one did."""
    anytime = Anytime()
    deadline = time.perf_counter() + time_limit_s
    first = start(problem, moves, deadline, seed, options.get("incumbent"))
    if first.candidate is None:
        return Outcome(None, "time_limit", note="lns: no start plan (dp and the contiguous heuristic found none)",
                       progress=anytime.curve)
    search = Search(problem, moves, deadline, time_limit_s, seed, options.get("moves"), first.candidate, anytime,
                    proven=first.proven, bound=first.bound)
    search.record()
    if not problem.execution.single:
        search.run()
    note = (f"large-neighbourhood search: start {first.candidate.plan.objective_value():.6g} {problem.objective.unit}, "
            f"{search.moves} moves, {search.accepted} accepted")
    status = "optimal" if search.proven else "feasible"
    return Outcome(search.best.groups, status, search.bound, search.moves, note, progress=anytime.curve)
