"""Replay of a segment plan (:mod:`accelplan.execution.segments`): segments one after another on a chiplet package.

Segment ``s`` starts once segment ``s - 1`` has ended (every input through its last layer):
the package is reconfigured (``reconfiguration_s``), then, on the one DRAM, each cluster whose
weights fit its SRAM loads them once (``W_c / dram_bw``; the cluster starts when its own are in)
and each input's activations at the segment's start cross DRAM (``boundary_bytes[start] /
dram_bw``: the model input, or the previous segment's output). A cluster runs one operator at a
time, ``time_s[l, c]`` per input and layer (the problem's table); a cluster whose weights do not
fit its SRAM streams them from DRAM for every input at its own share of the DRAM bandwidth, as
the analytical model counts them: its operators take that streaming time on top (the analytical
cluster time ``T_c`` less ``sum_l time_s[l, c]``, spread over its layers by weight bytes; the
share is the cluster's own, so it does not queue on the DRAM track). After the last layer each
input's output is written to DRAM. The batch ends with the last write.

Where the analytical model adds the weight loads, reconfiguration and DRAM crossings to the
batch time one after another, the replay overlaps a cluster's weight load and the inputs'
crossings with the work of the clusters and inputs before them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..execution import segments as seg
from .engine import Job
from .layout import Layout, LayoutBuilder

if TYPE_CHECKING:
    from ..problem import Problem


def _streaming(problem: "Problem", group: tuple, busy_s: float) -> dict[int, float]:
    """Per layer of a cluster, the streaming time its operator takes on top of ``time_s`` (0 when its weights fit)."""
    c, ls, _ = group
    extra = max(0.0, busy_s - float(sum(problem.time_s[l, c] for l in ls)))
    weights = float(sum(problem.segments.weight_bytes[l] for l in ls))
    return {l: extra * float(problem.segments.weight_bytes[l]) / weights if weights > 0 else 0.0 for l in ls}


def layout(problem: "Problem", groups: tuple, inputs: int) -> Layout:
    """The jobs of ``inputs`` inputs through ``groups`` ((configuration, layers, segment) per cluster, in plan order)."""
    t = problem.segments
    priced = seg.price(problem, groups)
    fits = priced.fits
    extra = [_streaming(problem, g, busy) for g, busy in zip(groups, priced.busy_s)]
    b = LayoutBuilder()
    tracks = [b.track(f"cluster {k} (segment {s}, {problem.configs[c].label})", "clusters", k)
              for k, (c, _, s) in enumerate(groups)]
    dram, package = b.track("DRAM", "shared", shared=True), b.track("reconfiguration", "shared", shared=True)
    per_byte = 1.0 / t.dram_bandwidth
    prev_ops: list[int] = [-1] * inputs  # per input: its last operator so far
    segment_end: list[int] = []  # the jobs that end the previous segment
    for s in sorted({g.segment for g in groups}):
        members = [k for k, g in enumerate(groups) if g.segment == s]
        start = groups[members[0]].layers[0]
        setup = b.add(Job(package, t.reconfiguration_s, (0, start, -1), "reconfiguration", f"segment {s}",
                          after=tuple((j, 0.0) for j in segment_end)))
        loads = {k: b.add(Job(dram, float(sum(t.weight_bytes[l] for l in groups[k].layers)) * per_byte,
                              (0, groups[k].layers[0], 0), "weights", f"cluster {k} weights", after=((setup, 0.0),)))
                 for k in members if fits[k]}
        for i in range(inputs):
            cross = b.add(Job(dram, float(t.boundary_bytes[start]) * per_byte, (i, start, 1), "dram",
                              f"input {i} in, segment {s}", i, start, after=((setup, 0.0),)))
            prev = cross
            for k in members:
                c, ls, _ = groups[k]
                for l in ls:
                    after = [(prev, 0.0)] + ([(loads[k], 0.0)] if k in loads and l == ls[0] else [])
                    prev = b.add(Job(tracks[k], float(problem.time_s[l, c]) + extra[k][l], (i, l), "op",
                                     problem.layers[l].name, i, l, after=tuple(after)))
            prev_ops[i] = prev
        segment_end = list(prev_ops)
    outputs = [b.add(Job(dram, float(t.boundary_bytes[problem.n_layers]) * per_byte, (i, problem.n_layers, 1), "dram",
                         f"input {i} out", i, problem.n_layers, after=((prev_ops[i], 0.0),))) for i in range(inputs)]
    return b.layout(outputs, inputs)
