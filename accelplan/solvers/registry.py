"""Strategies as declared objects: the one list every command, schema and comparison reads.

A :class:`Strategy` says what it is (exact or heuristic), which plan forms it covers, why a
problem is out of its reach, which options it takes (typed), and where its solver lives. The
solver is imported only when a strategy runs, so declaring strategies loads no backend.

A solver is a function ``(problem, time_limit_s, seed, options) -> Outcome``; :func:`run`
measures it, checks its options and turns its :class:`Outcome` into a
:class:`~accelplan.plan.Plan` in one place (:func:`accelplan.plan.finish`).
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import SolveError
from ..execution import Form

if TYPE_CHECKING:
    from ..plan import Outcome, Plan
    from ..problem import Problem


@dataclass(frozen=True)
class Option:
    """An option a strategy takes: its name (also the keyword and, with dashes, the CLI flag), type and help."""

    name: str
    type: type
    help: str
    metavar: str = "VALUE"
    cli: bool = True  # offered on the command line

    def check(self, strategy: str, value: Any) -> None:
        """A value of the declared type (numbers positive); else a :class:`SolveError`."""
        if self.type is bool:
            ok = isinstance(value, bool)
        else:
            ok = isinstance(value, self.type) and not isinstance(value, bool) and (self.type is not int or value >= 1)
        if not ok:
            what = {bool: "true or false", int: "a positive int"}.get(self.type, f"a {self.type.__name__}")
            raise SolveError(f"--{self.name.replace('_', '-')} of {strategy} must be {what}, not {value!r}")


#: every option any strategy takes
OPTIONS: dict[str, Option] = {o.name: o for o in (
    Option("trials", int, "Optuna: number of new trials (default: until the time limit)", "N"),
    Option("storage", str, "Optuna storage to resume or share a study: sqlite:///search.db, journal:///search.log, "
           "postgresql://user@host:port/db", "URL"),
    Option("study_name", str, "Optuna study name within --storage", "NAME"),
    Option("threads", int, "milp: HiGHS threads (default: HiGHS's choice)", "N"),
    Option("workers", int, "cpsat: CP-SAT workers (default: every core); Optuna: processes searching one study "
           "in --storage (default: 1)", "N"),
    Option("warm_start", bool, "Optuna: enqueue the contiguous heuristic's plan as the first trial (default true)",
           cli=False),
    Option("callbacks", list, "Optuna: callbacks called after each trial (the API's, e.g. to stop a search)", cli=False),
    Option("moves", int, "lns: most re-optimisations of a neighbourhood (default: until the time limit or none improves)",
           "N"),
    Option("incumbent", tuple, "lns: the groups of a plan to start from (e.g. another strategy's, by plan_groups)",
           cli=False),
)}


def _no_reason(problem: "Problem") -> str | None:
    return None


def _always(problem: "Problem", bounded: bool) -> bool:
    return True


@dataclass(frozen=True)
class Strategy:
    """A declared strategy. ``refuse(problem)`` gives why a covered form's problem is still out of reach;
    ``preferred(problem, bounded)`` says whether ``auto`` should pick it (``bounded``: solved under a latency bound)."""

    name: str
    exact: bool
    summary: str
    solver: str  # "module:function"
    forms: tuple[Form, ...]
    options: tuple[str, ...] = ()
    refuse: Callable[["Problem"], str | None] = _no_reason
    preferred: Callable[["Problem", bool], bool] = _always
    compare_by_default: bool = True

    def reason(self, problem: "Problem") -> str | None:
        """Why this strategy cannot solve ``problem`` (None when it can)."""
        form = problem.execution.form
        if form not in self.forms:
            others = [s.name for s in STRATEGIES.values() if form in s.forms]
            return (f"{self.name} does not model {problem.execution.name} execution ({form.value} plans on "
                    f"{problem.family}); strategies that do: {', '.join(others)}")
        return self.refuse(problem)

    def check_options(self, options: dict[str, Any]) -> None:
        """Refuse options this strategy does not take, naming the strategies that take them."""
        for key, value in options.items():
            if value is None:
                continue
            if key not in self.options:
                takers = [s.name for s in STRATEGIES.values() if key in s.options]
                flag = "--" + key.replace("_", "-")
                raise SolveError(f"{flag} is not an option of strategy {self.name}; "
                                 + (f"it is taken by {', '.join(takers)}" if takers else "no strategy takes it"))
            OPTIONS[key].check(self.name, value)

    def run(self, problem: "Problem", time_limit_s: float = 60.0, seed: int = 0, **options: Any) -> "Plan":
        """Solve ``problem``; a problem out of reach or a foreign option is a :class:`SolveError`."""
        from ..plan import finish

        why = self.reason(problem)
        if why:
            raise SolveError(why)
        self.check_options(options)
        module, function = self.solver.split(":")
        solve = getattr(importlib.import_module(module), function)
        start = time.perf_counter()
        outcome: Outcome = solve(problem, time_limit_s, seed, {k: v for k, v in options.items() if v is not None})
        return finish(problem, self.name, outcome, time.perf_counter() - start)


def _dp_refuse(problem: "Problem") -> str | None:
    if problem.execution.form is Form.PIPELINE and not problem.execution.contiguous:
        return (f"dp covers contiguous plans: {problem.execution.name} execution assigns layers to accelerators "
                "in any order; use milp or cpsat")
    if problem.execution.form is Form.PIPELINE and (problem.n_layers + 1) ** 2 > DP_MAX_STAGES:
        return (f"dp's target search compares every stage time: {problem.n_layers:,} layers give "
                f"{(problem.n_layers + 1) ** 2:,} of them, more than {DP_MAX_STAGES:,}; use milp")
    if (problem.execution.form is Form.SEGMENTS and problem.objective == "energy"
            and (problem.latency_max_s is not None or problem.throughput_min is not None)):
        return ("dp on segments minimises energy without a latency or throughput bound (a bound needs a second "
                "label dimension); use exhaustive on small models")
    if problem.execution.form is Form.DEVICES and (problem.objective != "throughput" or problem.latency_max_s is not None):
        return ("dp on device chains maximises throughput without a latency bound (a target search on the period); "
                "use exhaustive on small models for latency, energy or a latency bound")
    return None


DP_MAX_STAGES = 20_000_000  # (layers+1)^2 stage times dp's pipeline target search may enumerate


def _dp_preferred(problem: "Problem", bounded: bool) -> bool:
    """dp is the fastest exact method except in a sweep of latency bounds on pipelines (its label setting grows)."""
    ex = problem.execution
    return ex.form is Form.SEGMENTS or ex.single or not bounded


def _milp_refuse(problem: "Problem") -> str | None:
    if problem.execution.form is Form.SEGMENTS:
        from ..formulations.segments_milp import MAX_CLUSTERS, candidate_clusters
        if problem.objective == "energy":
            return ("milp on segments covers the throughput and latency objectives (the weights' hops from DRAM "
                    "depend on where clusters sit, which the MILP does not track); use dp for energy")
        count = candidate_clusters(problem)
        if count > MAX_CLUSTERS:
            return f"milp on segments: {count:,} candidate clusters exceed {MAX_CLUSTERS:,}; use dp"
    if problem.execution.form is Form.DEVICES:
        from ..formulations.devices_milp import MAX_PLACEMENTS
        pairs = problem.n_layers * problem.accelerator_slots
        if pairs > MAX_PLACEMENTS:
            return f"milp on device chains: {pairs:,} layer x device pairs exceed {MAX_PLACEMENTS:,}; use dp"
    return None


def _colgen_refuse(problem: "Problem") -> str | None:
    if problem.execution.contiguous and not problem.execution.single:
        return (f"colgen covers plans whose accelerators run layers in any order; {problem.execution.name} "
                "execution needs consecutive layers per accelerator: use dp or milp")
    if problem.objective != "throughput":
        return f"colgen maximises throughput (a target search on the period); use milp for {problem.objective}"
    return None


def _exhaustive_refuse(problem: "Problem") -> str | None:
    from .exhaustive import too_many
    return too_many(problem)


_OPTUNA = ("trials", "storage", "study_name", "workers", "warm_start", "callbacks")

#: every strategy, in the order ``auto`` tries the exact ones
STRATEGIES: dict[str, Strategy] = {s.name: s for s in (
    Strategy("dp", True, "dynamic programming over cut points (contiguous plans, segments, device chains)",
             "accelplan.solvers.dp:solve_dp", (Form.PIPELINE, Form.SEGMENTS, Form.DEVICES), refuse=_dp_refuse,
             preferred=_dp_preferred),
    Strategy("colgen", True, "branch and price on the configuration LP (any-order plans, throughput)",
             "accelplan.solvers.colgen:solve_colgen", (Form.PIPELINE,), refuse=_colgen_refuse,
             preferred=lambda problem, bounded: not problem.execution.single),
    Strategy("milp", True, "MILP (Pyomo + HiGHS), target search on the period", "accelplan.solvers.milp:solve_milp",
             (Form.PIPELINE, Form.SEGMENTS, Form.DEVICES), ("threads",), refuse=_milp_refuse),
    Strategy("cpsat", True, "constraint program (OR-Tools CP-SAT)", "accelplan.solvers.cpsat:solve_cpsat",
             (Form.PIPELINE,), ("workers",)),
    Strategy("exhaustive", True, "every plan of a small problem", "accelplan.solvers.exhaustive:solve_exhaustive",
             (Form.PIPELINE, Form.SEGMENTS, Form.DEVICES), refuse=_exhaustive_refuse),
    Strategy("optuna-tpe", False, "Optuna TPE on the objective", "accelplan.solvers.search:solve_tpe",
             (Form.PIPELINE, Form.SEGMENTS, Form.DEVICES), _OPTUNA),
    Strategy("optuna-nsga2", False, "Optuna NSGA-II on latency, throughput and energy", "accelplan.solvers.search:solve_nsga2",
             (Form.PIPELINE, Form.SEGMENTS, Form.DEVICES), _OPTUNA, compare_by_default=False),
    Strategy("lns", False, "large-neighbourhood search: free a few accelerators, re-plan them exactly",
             "accelplan.solvers.lns:solve_lns", (Form.PIPELINE, Form.SEGMENTS), ("moves", "incumbent")),
)}
STRATEGY_NAMES: tuple[str, ...] = tuple(STRATEGIES)


def strategy(name: str) -> Strategy:
    """The strategy called ``name``; an unknown name is a :class:`SolveError` listing the known ones."""
    try:
        return STRATEGIES[name]
    except KeyError:
        raise SolveError(f"unknown strategy {name!r}; available: {', '.join(STRATEGIES)}") from None


def exact_names() -> list[str]:
    return [s.name for s in STRATEGIES.values() if s.exact]


def auto(problem: "Problem", bounded: bool = False) -> str:
    """The exact strategy ``auto`` picks: the first preferred one that covers ``problem``, else the first that covers it."""
    covering = [s for s in STRATEGIES.values() if s.exact and s.reason(problem) is None]
    if not covering:
        raise SolveError(f"no exact strategy covers {problem.execution.name} execution on {problem.family}")
    return next((s for s in covering if s.preferred(problem, bounded)), covering[0]).name


def solve(problem: "Problem", name: str = "milp", time_limit_s: float = 60.0, seed: int = 0, **options: Any) -> "Plan":
    """Solve ``problem`` with the named strategy within ``time_limit_s``; ``seed`` makes runs repeatable."""
    return strategy(name).run(problem, time_limit_s, seed, **options)


__all__ = ["OPTIONS", "Option", "STRATEGIES", "STRATEGY_NAMES", "Strategy", "auto", "exact_names", "solve",
           "strategy"]
