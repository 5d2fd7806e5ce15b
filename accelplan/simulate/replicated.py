"""Replay of a replicated plan (:mod:`accelplan.execution.replicated`): k replicas and the memory they share.

Input ``i`` runs on replica ``i mod k``, every layer in turn, each for ``time_s[l, c]`` (the problem's
table). As in :mod:`.pipeline`, a layer's share of the weights, ``ddr_bytes`` per input, streams from the
one shared memory at the bandwidth ``ddr_period_s`` implies, into the replica's double buffer.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .engine import Job
from .layout import Layout, LayoutBuilder

if TYPE_CHECKING:
    from ..problem import Problem


def layout(problem: "Problem", groups: tuple, inputs: int) -> Layout:
    """The jobs of ``inputs`` inputs on the replicas of ``groups`` (one (configuration, replicas) group)."""
    (c, k), = groups
    b = LayoutBuilder()
    tracks = [b.track(f"replica {r} ({problem.configs[c].label})", "accelerators", r) for r in range(k)]
    total = sum(layer.ddr_bytes for layer in problem.layers)
    ddr = b.track("DDR", "shared", shared=True) if total > 0 and problem.ddr_period_s > 0 else -1
    seconds_per_byte = problem.ddr_period_s / total if ddr >= 0 else 0.0
    outputs, last = [], [[-1] * problem.n_layers for _ in range(k)]  # per replica and layer, the operator before
    for i in range(inputs):
        r, prev = i % k, -1
        for l, layer in enumerate(problem.layers):
            prev = b.add(Job(tracks[r], float(problem.time_s[l, c]), (i, l), "op", layer.name, i, l,
                             after=((prev, 0.0),) if prev >= 0 else ()))
            if ddr >= 0 and layer.ddr_bytes > 0:
                b.stream(prev, ddr, layer.ddr_bytes * seconds_per_byte, "ddr", f"{layer.name} weights", last[r][l])
            last[r][l] = prev
        outputs.append(prev)
    return b.layout(outputs, inputs)
