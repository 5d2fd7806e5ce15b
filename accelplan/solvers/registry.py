"""Strategies as declared objects: the one list every command, schema and comparison reads.

A :class:`Strategy` names one :class:`Implementation` per plan form it covers (where its solver for
that form lives, why a problem of that form is out of its reach, whether ``auto`` prefers it), the
options it takes (typed) and the :class:`Feature` set it has (proves bounds, multi-objective, anytime
curve): commands ask for features, never compare names. Solvers are imported only when a strategy
runs, so declaring strategies loads no backend.

A solver is a function ``(problem, time_limit_s, seed, options) -> Outcome``; :func:`run`
measures it, checks its options and turns its :class:`Outcome` into a
:class:`~accelplan.plan.Plan` in one place (:func:`accelplan.plan.finish`).
"""

from __future__ import annotations

import enum
import functools
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import SolveError
from ..plugins import resolve
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


class Feature(enum.Enum):
    """What a strategy can do beyond returning a plan; commands ask for a feature, never for a strategy's name."""

    PROVES = "proves optimality and bounds"  # an exact strategy: its optimum is certified, its bound valid
    MULTI_OBJECTIVE = "searches latency, throughput and energy at once"  # can give a Pareto front by itself
    ANYTIME = "records an anytime curve"  # its plan's progress has a point per improvement


@dataclass(frozen=True)
class Implementation:
    """How a strategy solves one plan form: its solver (``"module:function"``, imported when it runs), why a problem
    of that form is still out of reach (``refuse``), whether ``auto`` should pick it (``preferred(problem,
    bounded)``, ``bounded``: solved under a latency bound) and whether its formulation prices the form's closed form
    rather than the plan's schedule (``closed_form``: such a solver is run by
    :func:`accelplan.solvers.scheduled.solve_on_schedule` when the form relaxes the problem for it)."""

    solver: str
    refuse: Callable[["Problem"], str | None] = _no_reason
    preferred: Callable[["Problem", bool], bool] = _always
    closed_form: bool = False


@dataclass(frozen=True)
class Strategy:
    """A declared strategy: one :class:`Implementation` per plan form it solves (the forms it covers are the keys),
    the options it takes and the :class:`Feature` set it has."""

    name: str
    summary: str
    implementations: Mapping[Form, Implementation]
    features: frozenset[Feature] = frozenset()
    options: tuple[str, ...] = ()
    compare_by_default: bool = True
    #: with :attr:`Feature.MULTI_OBJECTIVE`: ``"module:function"`` of ``(problem, time_limit_s, seed, trials) ->
    #: (groups of each non-dominated plan, note)``
    front: str = ""

    @property
    def exact(self) -> bool:
        """Proves optimality (and bounds): the :attr:`Feature.PROVES` feature."""
        return Feature.PROVES in self.features

    @property
    def forms(self) -> tuple[Form, ...]:
        return tuple(self.implementations)

    def refusal(self, problem: "Problem") -> str | None:
        """Why this strategy cannot solve ``problem``, without the strategies that can (None when it can)."""
        form = problem.execution.form
        if form not in self.implementations:
            return (f"{self.name} does not model {problem.execution.name} execution ({form.label} plans on "
                    f"{problem.family})")
        return self.implementations[form].refuse(problem)

    def reason(self, problem: "Problem") -> str | None:
        """Why this strategy cannot solve ``problem`` and every strategy that can, read from :data:`STRATEGIES`
        (None when it can)."""
        why = self.refusal(problem)
        return None if why is None else f"{why}; {covering_text(problem)}"

    def preferred(self, problem: "Problem", bounded: bool) -> bool:
        """Whether ``auto`` should pick this strategy for ``problem`` (a form it covers)."""
        return self.implementations[problem.execution.form].preferred(problem, bounded)

    def solver_for(self, problem: "Problem") -> Callable[["Problem", float, int, dict], "Outcome"]:
        """The solver function of ``problem``'s form (imported now); one that prices a closed form where the plan's
        latency is its schedule's, run to be certified on the schedule (:mod:`accelplan.solvers.scheduled`)."""
        implementation = self.implementations[problem.execution.form]
        solve = resolve(implementation.solver)
        if implementation.closed_form:
            from .scheduled import needs_certifying, solve_on_schedule
            if needs_certifying(problem):
                return functools.partial(solve_on_schedule, solve)
        return solve

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
        from ..plan import Outcome
        from .watchdog import grace_s, watched

        solve = self.solver_for(problem)
        start = time.perf_counter()
        given = {k: v for k, v in options.items() if v is not None}
        outcome: Outcome = watched(
            lambda: solve(problem, time_limit_s, seed, given), time_limit_s,
            lambda: Outcome(None, "time_limit", None, note=f"stopped by accelplan's watchdog {grace_s(time_limit_s):.2g} s "
                                                           f"after the {time_limit_s:g} s limit, before {self.name} "
                                                           "returned a plan"))
        return finish(problem, self.name, outcome, time.perf_counter() - start)


DP_MAX_STAGES = 20_000_000  # (layers+1)^2 stage times dp's pipeline target search may enumerate


def _dp_pipeline_refuse(problem: "Problem") -> str | None:
    if not problem.execution.contiguous:
        return (f"dp covers contiguous plans: {problem.execution.name} execution assigns layers to accelerators "
                "in any order")
    if (problem.n_layers + 1) ** 2 > DP_MAX_STAGES:
        return (f"dp's target search compares every stage time: {problem.n_layers:,} layers give "
                f"{(problem.n_layers + 1) ** 2:,} of them, more than {DP_MAX_STAGES:,}")
    return None


def _dp_segments_refuse(problem: "Problem") -> str | None:
    if problem.objective == "energy" and (problem.latency_max_s is not None or problem.throughput_min is not None):
        return ("dp on segments minimises energy without a latency or throughput bound (a bound needs a second "
                "label dimension)")
    return None


def _dp_devices_refuse(problem: "Problem") -> str | None:
    if problem.workload is not None and problem.objective in ("throughput", "latency"):
        return None  # a served model: TPOT = sequences / tokens/s, so both objectives are the one target search
    if problem.objective != "throughput" or problem.latency_max_s is not None:
        return ("dp on device chains maximises throughput without a latency bound (a target search on the period), "
                "not latency, energy or under a latency bound")
    return None


def _dp_pipeline_preferred(problem: "Problem", bounded: bool) -> bool:
    """dp is the fastest exact method on contiguous pipelines, in a sweep of latency bounds too: under a bound it
    searches period targets with labels bounded by the rest's least time (benchmarks/bounded.py, vck190 spatial:
    every built-in model at batch 1 proven in seconds; at batch 16 all but the longest chains, GPT-3 175B and
    LLaMA-7B prefill, which stopped at the time limit on a loaded machine)."""
    return True


def _milp_segments_refuse(problem: "Problem") -> str | None:
    from ..formulations.segments_milp import MAX_CLUSTERS, candidate_clusters
    if problem.objective == "energy":
        return ("milp on segments covers the throughput and latency objectives (the weights' hops from DRAM "
                "depend on where clusters sit, which the MILP does not track)")
    count = candidate_clusters(problem)
    if count > MAX_CLUSTERS:
        return f"milp on segments: {count:,} candidate clusters exceed {MAX_CLUSTERS:,}"
    return None


def _milp_devices_refuse(problem: "Problem") -> str | None:
    from ..formulations.devices_milp import MAX_PLACEMENTS
    if len(problem.devices.splits) > 1 or problem.workload is not None:
        return ("milp on device chains covers runs on single devices of a model without a workload; the hardware "
                "splits runs across devices (tensor_parallel) or the study serves a language model")
    pairs = problem.n_layers * min(problem.accelerator_slots, problem.n_layers)
    if pairs > MAX_PLACEMENTS:
        return f"milp on device chains: {pairs:,} layer x device pairs exceed {MAX_PLACEMENTS:,}"
    return None


def _colgen_refuse(problem: "Problem") -> str | None:
    if problem.execution.contiguous and not problem.execution.single:
        return (f"colgen covers plans whose accelerators run layers in any order; {problem.execution.name} "
                "execution needs consecutive layers per accelerator")
    if problem.objective != "throughput":
        return f"colgen maximises throughput (a target search on the period), not {problem.objective}"
    return None


def _refuse_with(target: str) -> Callable[["Problem"], str | None]:
    """A refusal that lives beside its solver (imported only when asked)."""
    return lambda problem: resolve(target)(problem)


_OPTUNA = ("trials", "storage", "study_name", "workers", "warm_start", "callbacks")
#: the forms Optuna searches (the keys of accelplan.solvers.spaces.SPACES)
_OPTUNA_FORMS = (Form.PIPELINE, Form.SEGMENTS, Form.DEVICES)
_EXACT = frozenset({Feature.PROVES})

#: every strategy, in the order ``auto`` tries the exact ones
STRATEGIES: dict[str, Strategy] = {s.name: s for s in (
    Strategy("dp", "dynamic programming over cut points (contiguous plans, segments, device chains, replicas)", {
        Form.PIPELINE: Implementation("accelplan.solvers.dp:solve_dp", _dp_pipeline_refuse, _dp_pipeline_preferred),
        Form.SEGMENTS: Implementation("accelplan.solvers.segment_dp:solve_segments", _dp_segments_refuse),
        Form.DEVICES: Implementation("accelplan.solvers.device_dp:solve_devices", _dp_devices_refuse),
        Form.REPLICATED: Implementation("accelplan.solvers.replicated:solve_dp"),
    }, _EXACT | {Feature.ANYTIME}),
    Strategy("colgen", "branch and price on the configuration LP (any-order plans, throughput)", {
        Form.PIPELINE: Implementation("accelplan.solvers.colgen:solve_colgen", _colgen_refuse,
                                      lambda problem, bounded: not problem.execution.single, closed_form=True),
    }, _EXACT | {Feature.ANYTIME}),
    Strategy("milp", "MILP (Pyomo + HiGHS), target search on the period", {
        Form.PIPELINE: Implementation("accelplan.solvers.milp:solve_milp", closed_form=True),
        Form.SEGMENTS: Implementation("accelplan.solvers.milp_segments:solve_segments", _milp_segments_refuse),
        Form.DEVICES: Implementation("accelplan.solvers.milp_devices:solve_devices", _milp_devices_refuse),
    }, _EXACT, ("threads",)),
    Strategy("cpsat", "constraint program (OR-Tools CP-SAT)", {
        Form.PIPELINE: Implementation("accelplan.solvers.cpsat:solve_cpsat", closed_form=True),
    }, _EXACT, ("workers",)),
    Strategy("exhaustive", "every plan of a small problem", {
        Form.PIPELINE: Implementation("accelplan.solvers.exhaustive:solve_pipeline",
                                      _refuse_with("accelplan.solvers.exhaustive:too_many_pipelines")),
        Form.SEGMENTS: Implementation("accelplan.solvers.exhaustive:solve_segments"),
        Form.DEVICES: Implementation("accelplan.solvers.exhaustive:solve_devices",
                                     _refuse_with("accelplan.solvers.exhaustive:too_many_devices")),
        Form.REPLICATED: Implementation("accelplan.solvers.replicated:solve_exhaustive"),
    }, _EXACT),
    Strategy("optuna-tpe", "Optuna TPE on the objective",
             {form: Implementation("accelplan.solvers.search:solve_tpe") for form in _OPTUNA_FORMS},
             frozenset({Feature.ANYTIME}), _OPTUNA),
    Strategy("optuna-nsga2", "Optuna NSGA-II on latency, throughput and energy",
             {form: Implementation("accelplan.solvers.search:solve_nsga2") for form in _OPTUNA_FORMS},
             frozenset({Feature.ANYTIME, Feature.MULTI_OBJECTIVE}), _OPTUNA, compare_by_default=False,
             front="accelplan.solvers.search:nsga2_front"),
    Strategy("lns", "large-neighbourhood search: free a few accelerators, re-plan them exactly", {
        Form.PIPELINE: Implementation("accelplan.solvers.lns:solve_pipeline"),
        Form.SEGMENTS: Implementation("accelplan.solvers.lns:solve_segments"),
    }, frozenset({Feature.ANYTIME}), ("moves", "incumbent")),
)}
STRATEGY_NAMES: tuple[str, ...] = tuple(STRATEGIES)
AUTO = "auto"  # not a strategy: the exact one :func:`auto` picks for the problem at hand
#: what a study, a sweep or ``--strategy`` may name
STRATEGY_CHOICES: tuple[str, ...] = (AUTO, *STRATEGY_NAMES)


def strategy(name: str) -> Strategy:
    """The strategy called ``name``; an unknown name is a :class:`SolveError` listing the known ones."""
    try:
        return STRATEGIES[name]
    except KeyError:
        import difflib

        close = difflib.get_close_matches(name, STRATEGY_CHOICES, n=1, cutoff=0.6)
        raise SolveError(f"unknown strategy {name!r}" + (f"; did you mean {close[0]}?" if close else "")
                         + f"; available: {', '.join(STRATEGIES)}") from None


def exact_names() -> list[str]:
    return [s.name for s in STRATEGIES.values() if s.exact]


def with_feature(feature: Feature) -> list[str]:
    """Names of the strategies that have ``feature``, in declaration order."""
    return [s.name for s in STRATEGIES.values() if feature in s.features]


def covering(problem: "Problem") -> list[Strategy]:
    """Every strategy that covers ``problem`` (its form, and no refusal), in declaration order."""
    return [s for s in STRATEGIES.values() if s.refusal(problem) is None]


def covering_text(problem: "Problem") -> str:
    """The strategies that cover ``problem``, for a refusal: exact ones (``auto``'s pick first) and heuristics."""
    names = covering(problem)
    exact = [s.name for s in names if s.exact]
    heuristic = [s.name for s in names if not s.exact]
    if not names:
        return "no strategy covers this problem"
    text = "strategies that cover this problem: "
    parts = []
    if exact:
        parts.append(f"{', '.join(exact)} (exact; auto picks {auto(problem)})")
    if heuristic:
        parts.append(f"{', '.join(heuristic)} (heuristic)")
    return text + "; ".join(parts)


def auto(problem: "Problem", bounded: bool = False) -> str:
    """The exact strategy ``auto`` picks: the first preferred one that covers ``problem``, else the first that covers it."""
    first = None  # strategies are asked in order and no further than needed: a refusal may import its backend
    for s in STRATEGIES.values():
        if s.exact and s.refusal(problem) is None:
            if s.preferred(problem, bounded):
                return s.name
            first = first or s
    if first is None:
        raise SolveError(f"no exact strategy covers {problem.execution.name} execution on {problem.family}; "
                         + covering_text(problem).replace("no strategy", "and no heuristic"))
    return first.name


def solve(problem: "Problem", name: str = AUTO, time_limit_s: float = 60.0, seed: int = 0, **options: Any) -> "Plan":
    """Solve ``problem`` with the named strategy (``auto``: the exact one :func:`auto` picks) within ``time_limit_s``;
    ``seed`` makes runs repeatable."""
    return strategy(auto(problem) if name == AUTO else name).run(problem, time_limit_s, seed, **options)


__all__ = ["AUTO", "OPTIONS", "covering", "covering_text", "STRATEGY_CHOICES", "Feature", "Implementation", "Option", "STRATEGIES", "STRATEGY_NAMES", "Strategy", "auto",
           "exact_names", "resolve", "solve", "strategy", "with_feature"]
