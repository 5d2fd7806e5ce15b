"""Replay of a pipeline plan (:mod:`accelplan.execution.pipeline`): accelerators of one device and its DDR.

Per input ``i`` and layer ``l`` one operator runs on the accelerator holding ``l`` for
``time_s[l, c]`` (the problem's table), after the input's layer ``l - 1``. Its share of the
layer's weights, ``ddr_bytes`` per input (the weights once per batch, as the analytical model
counts them), streams from the one DDR at the bandwidth the problem's ``ddr_period_s`` implies,
into a double buffer: the transfer may start once the layer's operator of the input before has
started, and the operator ends when both its time and its transfer are done. Every input of a
batch is there at time 0. In a re-entrant plan (an input returning to an accelerator it used
before) an input waits wherever that accelerator is busy with another input, and each accelerator picks
its next ready operator by the plan's dispatch rule
(:func:`accelplan.execution.pipeline.best_dispatch`, the rule the plan records).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..execution.pipeline import best_dispatch
from .engine import Job
from .layout import Layout, LayoutBuilder

if TYPE_CHECKING:
    from ..problem import Problem


def layout(problem: "Problem", groups: tuple, inputs: int) -> Layout:
    """The jobs of ``inputs`` inputs through ``groups`` ((configuration, layers) per accelerator, in plan order)."""
    b = LayoutBuilder()
    where: dict[int, tuple[int, int]] = {}
    for a, (c, ls) in enumerate(groups):
        track = b.track(f"accelerator {a} ({problem.configs[c].label})", "accelerators", a)
        where.update({l: (track, c) for l in ls})
    total = sum(layer.ddr_bytes for layer in problem.layers)
    ddr = b.track("DDR", "shared", shared=True) if total > 0 and problem.ddr_period_s > 0 else -1
    seconds_per_byte = problem.ddr_period_s / total if ddr >= 0 else 0.0
    outputs, last = [], [-1] * problem.n_layers  # last: per layer, the operator of the input before
    key = best_dispatch(problem, groups).key
    for i in range(inputs):
        prev = -1
        for l, layer in enumerate(problem.layers):
            track, c = where[l]
            prev = b.add(Job(track, float(problem.time_s[l, c]), key(i, l), "op", layer.name, i, l,
                             after=((prev, 0.0),) if prev >= 0 else ()))
            if ddr >= 0 and layer.ddr_bytes > 0:
                b.stream(prev, ddr, layer.ddr_bytes * seconds_per_byte, "ddr", f"{layer.name} weights", last[l])
            last[l] = prev
        outputs.append(prev)
    return b.layout(outputs, inputs)

