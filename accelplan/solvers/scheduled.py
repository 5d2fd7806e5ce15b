"""Certify on the schedule: an exact strategy whose formulation prices a closed form, checked and cut on the plan's
schedule (logic-based Benders: a relaxed master, a check of each plan on its subproblem, a cut, repeat).

A re-entrant pipeline plan's latency is its schedule's (:func:`accelplan.execution.pipeline.scheduled_latency_s`),
which no linear formulation prices: the closed form the MILP, CP-SAT and branch and price optimise is neither above
nor below it. When a search reads latency, a strategy that prices the closed form runs as follows (the form's
:meth:`~accelplan.execution.form.PlanForm.schedule_relaxation` supplies the relaxation):

1. **Bound.** The relaxation (every plan whose schedule meets the bounds is feasible in it, and its optimum bounds
   the schedule's) is solved: its proven bound is the bound reported. If its plan meets the bounds as scheduled, it
   is the answer, and optimal when the relaxation was proven.
2. **Cut.** Otherwise plans are sought under ever tighter bounds, two masters taking turns: the closed form under a
   latency bound ``L`` (starting at the study's), and the relaxation under its chain bound; each plan whose schedule
   misses the study's bound is cut off with every plan of that master's latency as long, until a plan meets the
   bound as scheduled, both masters run dry or the time is up (no plan is then claimed not to exist: the
   relaxation had plans).
3. For the latency objective, the closed form's optimum is a candidate beside the relaxation's; the plan of least
   scheduled latency is returned. When no candidate meets the bounds, the best plan of consecutive layers per
   accelerator (dp; its schedule is its closed form) is one; failing that, a problem small enough to enumerate is
   enumerated on the schedule (the exhaustive strategy).

A plan returned meets the study's latency bound as it runs; it is called optimal only when its value reaches the
relaxation's bound (within :data:`TOLERANCE`), else feasible, with that bound and its gap.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..plan import Groups, Outcome, metrics

if TYPE_CHECKING:
    from ..problem import Problem

TOLERANCE = 1e-6  # relative: a value within this of the bound is proven
CUTS_MAX = 50  # closed-form bounds tried before the search stops (each excludes at least the plan before)

Solve = Callable[["Problem", float, int, dict[str, Any]], Outcome]


def needs_certifying(problem: "Problem") -> bool:
    """Whether ``problem``'s form relaxes it for a search reading latency (:meth:`PlanForm.schedule_relaxation`)."""
    return problem.form.schedule_relaxation(problem) is not None


def solve_on_schedule(solve: Solve, problem: "Problem", time_limit_s: float, seed: int,
                      options: dict[str, Any]) -> Outcome:
    """Run ``solve`` (a solver pricing the closed form) as the module docstring says; ``problem`` needs certifying."""
    deadline = time.perf_counter() + time_limit_s
    relaxed = problem.form.schedule_relaxation(problem)
    first = solve(relaxed, time_limit_s, seed, options)
    if first.groups is None:  # no plan meets the relaxation: none meets the problem (or none was found in time)
        return Outcome(None, first.status, first.bound, first.evaluations, _say(first.note, "relaxation"))
    bound = first.bound if first.status != "optimal" else _value(relaxed, first.groups)
    candidates = [first.groups]
    evaluations = first.evaluations or 0
    cuts = 0
    if problem.objective == "latency" or not _meets(problem, first.groups):
        found, more, cuts = _cut(solve, problem, deadline, seed, options)
        candidates += found
        evaluations += more
    if _best(problem, candidates) is None:
        candidates += _contiguous(problem, deadline, seed)
    if _best(problem, candidates) is None:
        enumerated = _enumerated(problem, deadline, seed)
        if enumerated is not None:
            return enumerated
    best = _best(problem, candidates)
    if best is None:  # the relaxation has plans, so none is proven not to exist
        return Outcome(None, "time_limit", bound, evaluations,
                       f"no plan found that meets the bounds as scheduled ({cuts} cut(s); the relaxation's plans miss "
                       "them)")
    value = _value(problem, best)
    proven = first.status == "optimal" and bound is not None and problem.objective.gap(value, bound) <= TOLERANCE
    shown = "none" if bound is None else f"{bound:.6g}"  # a relaxation stopped without a bound
    note = (f"certified on the schedule: relaxation bound {shown}" if proven else
            f"the schedule's value is checked; bound {shown} from the relaxation (every plan's schedule takes at "
            "least one input's chain and the busiest accelerator's batch)") + (f"; {cuts} cut(s)" if cuts else "")
    return Outcome(best, "optimal" if proven else "feasible", bound, evaluations, note)


def _cut(solve: Solve, problem: "Problem", deadline: float, seed: int,
         options: dict[str, Any]) -> tuple[list[Groups], int, int]:
    """Step 2 (and 3): plans under ever tighter bounds until one meets the study's as scheduled. Two masters take
    turns: the closed form under a latency bound below each failed plan's closed form, and the relaxation under a
    chain bound below each failed plan's chain (a schedule can beat its closed form, so plans the first never
    reaches may meet the bound: the second reaches them). Each turn cuts off the plan before it."""
    relaxed = problem.form.schedule_relaxation(problem)
    found, evaluations = [], 0
    bounds = {"closed form": problem.latency_max_s, "relaxation": relaxed.latency_max_s}
    masters = ["closed form", "relaxation"]
    for cuts in range(CUTS_MAX):
        left = deadline - time.perf_counter()
        if left <= 0 or not masters:
            return found, evaluations, cuts
        which = masters[cuts % len(masters)]
        master = (problem if which == "closed form" else relaxed).with_latency_bound(bounds[which])
        out = solve(master, left, seed, options)
        evaluations += out.evaluations or 0
        if out.groups is None:
            masters.remove(which)
            continue
        found.append(out.groups)
        if _meets(problem, out.groups):
            return found, evaluations, cuts
        reached = metrics(master, out.groups, check_bounds=False).latency_s  # its closed form, or its chain
        bounds[which] = min(bounds[which] if bounds[which] is not None else reached, reached) * (1 - TOLERANCE)
    return found, evaluations, CUTS_MAX


def _contiguous(problem: "Problem", deadline: float, seed: int) -> list[Groups]:
    """The best plan whose accelerators each run consecutive layers (dp, exact among them): no input returns to an
    accelerator, so its schedule is its closed form and it meets the bounds whenever any such plan does."""
    from .lns import contiguous_restriction
    from .registry import STRATEGIES

    restricted = contiguous_restriction(problem)
    left = deadline - time.perf_counter()
    if left <= 0 or STRATEGIES["dp"].reason(restricted) is not None:
        return []
    out = STRATEGIES["dp"].solver_for(restricted)(restricted, left, seed, {})
    return [out.groups] if out.groups is not None else []


def _enumerated(problem: "Problem", deadline: float, seed: int) -> Outcome | None:
    """Every plan priced on its schedule (the exhaustive strategy), when the problem is small enough to enumerate and
    time is left: the last resort when no master's plan meets the bounds. None when it cannot run."""
    from .registry import STRATEGIES

    left = deadline - time.perf_counter()
    if left <= 0 or STRATEGIES["exhaustive"].reason(problem) is not None:
        return None
    out = STRATEGIES["exhaustive"].solver_for(problem)(problem, left, seed, {})
    return Outcome(out.groups, out.status, out.bound, out.evaluations,
                   _say(out.note, "no master's plan met the bounds as scheduled; every plan enumerated on its schedule"))


def _meets(problem: "Problem", groups: Groups) -> bool:
    return not metrics(problem, groups).violations


def _value(problem: "Problem", groups: Groups) -> float:
    return metrics(problem, groups, check_bounds=False).objective_value(problem.objective)


def _best(problem: "Problem", candidates: list[Groups]) -> Groups | None:
    """The candidate that meets the bounds as scheduled with the best value (the first of equals)."""
    best, best_value = None, None
    for groups in candidates:
        if _meets(problem, groups):
            value = _value(problem, groups)
            if best is None or problem.objective.better(value, best_value):
                best, best_value = groups, value
    return best


def _say(note: str, what: str) -> str:
    return f"{what}: {note}" if note else what
