"""The contract of a plan form: what every form module declares, checked when the form is loaded.

A form is one way of pricing a plan's groups (see :mod:`accelplan.execution`). Its module holds a
``FORM`` object, an instance of a :class:`PlanForm` subclass, which owns everything about plans
of that shape:

- ``group``: the typed record of one group a strategy decides (a NamedTuple, never a bare tuple);
- ``tables``: the type of the tables a :class:`~accelplan.problem.Problem` of the form carries beyond
  the generic per layer x configuration ones (checked when the problem is built);
- ``accelerator``: its record in a :class:`~accelplan.plan.Plan` (a subclass of
  :class:`~accelplan.plan.AcceleratorPlan` with the form's own fields);
- :meth:`metrics`: the analytical figures of a set of groups, and what they violate;
- :meth:`plan`: the :class:`~accelplan.plan.Plan` of a set of groups, and :meth:`plan_groups`, its inverse;
- ``replay``: where the simulator's job builder for the form lives ("module:function"), ``streams``
  (whether batches follow each other in a stream when replayed) and :meth:`replay_latency_s`, the
  analytical latency of a batch the replay is compared with;
- ``has_front``: whether its plans trade latency for throughput (a Pareto front has more than one point);
- :meth:`slots_used`: how many of the problem's accelerator slots a plan takes (what neighbourhood
  searches count).

Everything outside :mod:`accelplan.execution` asks the form object (``problem.form``) instead of
comparing form names.
"""

from __future__ import annotations

import abc
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from ..plan import AcceleratorPlan, Plan, SolverFacts
    from ..problem import Problem
    from . import Metrics


class PlanForm(abc.ABC):
    """A registered plan form; subclasses set the class attributes and implement the abstract methods.

    A subclass that misses an abstract method cannot be instantiated, so a form module fails when it
    is loaded (:func:`accelplan.execution.load_form`), not when a strategy first calls it.
    """

    name: ClassVar[str]
    group: ClassVar[type]  # a NamedTuple: the typed record of one group
    accelerator: ClassVar[type["AcceleratorPlan"]]
    replay: ClassVar[str]  # "module:function" building the simulator's jobs (problem, groups, inputs) -> Layout
    streams: ClassVar[bool]  # replayed as a stream of inputs (False: batch after batch, nothing shared)
    #: the type of the form's own tables a Problem carries (``problem.tables``); None: the generic tables suffice
    tables: ClassVar[type | None] = None
    #: False where a plan's latency is its batch time and its throughput batch / that time: a latency-throughput
    #: front of such a form is a single plan
    has_front: ClassVar[bool] = True

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if not getattr(cls, "__abstractmethods__", None):
            missing = [a for a in ("name", "group", "accelerator", "replay", "streams") if not hasattr(cls, a)]
            if missing:
                raise TypeError(f"plan form {cls.__name__} does not declare {', '.join(missing)}")

    @abc.abstractmethod
    def metrics(self, problem: "Problem", groups: tuple, check_bounds: bool = True) -> "Metrics":
        """Price ``groups`` with the problem's tables."""

    @abc.abstractmethod
    def plan(self, problem: "Problem", groups: tuple, solver: "SolverFacts | None" = None,
             check_bounds: bool = True) -> "Plan":
        """Price ``groups`` and describe every accelerator (cluster, device) of the plan."""

    @abc.abstractmethod
    def plan_groups(self, problem: "Problem", plan: "Plan") -> tuple:
        """The groups ``plan`` was priced from (the inverse of :meth:`plan`); a ``KeyError`` names a layer or
        configuration the problem does not have."""

    def typed(self, groups: tuple) -> tuple:
        """``groups`` as the form's records (plain tuples of the same fields accepted)."""
        return tuple(g if isinstance(g, self.group) else self.group(*g) for g in groups)

    def assigns_every_layer_once(self, problem: "Problem", groups: tuple) -> bool:
        """Whether every layer is in exactly one group (default: by the records' ``layers``)."""
        return sorted(l for g in groups for l in g.layers) == list(range(problem.n_layers))

    def slots(self, problem: "Problem") -> int:
        """Most accelerators (or clusters per segment, or devices) a plan may use: one under a single-accelerator
        execution model, else the accelerator limit and at most one per layer."""
        return 1 if problem.execution.single else min(problem.max_accelerators, problem.n_layers)

    def slots_used(self, groups: tuple) -> int:
        """How many of the problem's accelerator slots ``groups`` take (default: one per group)."""
        return len(groups)

    def replay_latency_s(self, problem: "Problem", groups: tuple, analytical: "Metrics") -> float:
        """The analytical latency of a batch a replay of ``groups`` is compared with (default: the priced one)."""
        return analytical.latency_s

    def fixed_latency_s(self, problem: "Problem", groups: tuple, analytical: "Metrics") -> float:
        """The part of the latency that is not operators pipelined over the batch (default: none)."""
        return 0.0

    def schedule_relaxation(self, problem: "Problem") -> "Problem | None":
        """A problem whose feasible plans include every plan of ``problem`` whose latency *as scheduled* meets its
        bounds, and whose optimum bounds ``problem``'s on the schedule, for strategies whose formulations price a
        closed form (default None: the form's priced latency is what its formulations price, so no relaxation is
        needed). :mod:`accelplan.solvers.scheduled` solves it first, then verifies plans on their schedule."""
        return None

    def handoffs(self, problem: "Problem", groups: tuple) -> tuple[int, int]:
        """Moves of one input between groups, and returns to a group it has left (default: none counted)."""
        return 0, 0
