"""What sets a plan's times, as its form records them: per layer the term of the family's cost model that sets the
layer's time (:class:`~accelplan.plan.LayerTime`, from the problem's :class:`~accelplan.problem.LayerBounds`), and
the plan's bottleneck in words.

Read from the tables the plan was priced with; nothing is priced here.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from ..plan import LayerTime

if TYPE_CHECKING:
    from ..problem import Problem


def layer_time(problem: "Problem", accelerator: int, layer: int, config: int, time_s: float,
               terms_s: Sequence[float] = (), bound: str = "") -> LayerTime:
    """One layer's record: ``time_s`` on configuration ``config`` of ``accelerator``, its terms and the one that binds."""
    macs = float(problem.layers[layer].gemm.macs)
    peak = problem.configs[config].units * problem.peak_macs_per_unit_s
    return LayerTime(problem.layers[layer].name, accelerator, time_s * 1e3, bound, tuple(t * 1e3 for t in terms_s),
                     macs, macs / (peak * time_s) if time_s > 0 and peak > 0 else 0.0)


def layer_times(problem: "Problem", groups: Iterable[tuple[int, Sequence[int]]]) -> tuple[LayerTime, ...]:
    """Per layer (in layer order) of ``groups`` — (configuration, layers) per accelerator, in accelerator order —
    its time on its accelerator's configuration (``problem.time_s``) and, where the family records them
    (``problem.bounds``), each term and the one that sets the time."""
    b = problem.bounds
    out = []
    for a, (c, ls) in enumerate(groups):
        for l in ls:
            terms = tuple(float(t) for t in b.terms_s[l, c]) if b is not None else ()
            bound = b.names[int(b.binds[l, c])] if b is not None else ""
            out.append((l, layer_time(problem, a, l, c, float(problem.time_s[l, c]), terms, bound)))
    return tuple(t for _, t in sorted(out, key=lambda x: x[0]))


def layer_terms(problem: "Problem") -> tuple[str, ...]:
    """The names of the terms :func:`layer_times` records (none where the family records no bounds)."""
    return problem.bounds.names if problem.bounds is not None else ()


def bound_shares(times: Iterable[LayerTime]) -> str:
    """How an accelerator's time splits by what bounds its layers, e.g. "compute-bound 71 %, PLIO-bound 29 %"."""
    total, by = 0.0, {}
    for t in times:
        total += t.time_ms
        if t.bound:
            by[t.bound] = by.get(t.bound, 0.0) + t.time_ms
    if not total or not by:
        return ""
    ranked = sorted(by.items(), key=lambda kv: -kv[1])
    return ", ".join(f"{name}-bound {100 * ms / total:.0f} %" for name, ms in ranked if ms / total >= 0.005)


def pipeline_bottleneck(problem: "Problem", labels: Sequence[str], busy_s: Sequence[float], period_s: float,
                        times: Sequence[LayerTime]) -> str:
    """What sets a pipeline plan's period: the shared DDR channel, or its slowest stage (accelerator ``k``, its
    configuration ``labels[k]``) with what bounds that stage's layers."""
    if not busy_s or period_s in (0.0, float("inf")):
        return ""
    slowest = max(range(len(busy_s)), key=lambda k: busy_s[k])
    if problem.ddr_period_s >= busy_s[slowest] * (1 + 1e-9):
        return (f"the DDR channel: all layers' DDR traffic takes {problem.ddr_period_s * 1e3:.4g} ms per input, more "
                f"than the slowest stage's {busy_s[slowest] * 1e3:.4g} ms")
    shares = bound_shares(t for t in times if t.accelerator == slowest)
    what = f"stage #{slowest} ({labels[slowest]}), {busy_s[slowest] * 1e3:.4g} ms per input"
    return what + (f"; its layers: {shares}" if shares else "")
