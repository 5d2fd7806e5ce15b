"""Replay of a device-chain plan (:mod:`accelplan.execution.devices`): a run of layers per device, links between.

Every layer is its own block on its device (the blocks of a device run at the same time, as in
the analytical model); a block runs one input at a time, ``time[k, l, c_l]`` per input (the
problem's :class:`~accelplan.problem.DeviceTables`), after the input's previous layer. A block
whose weights stream reads ``W_l / batch`` bytes per input from its device's DDR/HBM (shared by
the device's blocks, one transfer at a time at its bandwidth) into a double buffer: the transfer
may start once the block has started the input before, and the block ends an input when both its
time and the transfer are done. Between device ``d`` and ``d + 1`` each input's activations cross the
link (one transfer at a time, bytes / link bandwidth) and arrive the link latency later.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .engine import Job
from .layout import Layout, LayoutBuilder

if TYPE_CHECKING:
    from ..problem import Problem


def layout(problem: "Problem", groups: tuple, inputs: int) -> Layout:
    """The jobs of ``inputs`` inputs through ``groups`` ((device, layers, configuration per layer), in chain order)."""
    t = problem.devices
    b = LayoutBuilder()
    block: dict[int, tuple[int, int, int, int]] = {}  # layer -> (track, configuration, kind, device)
    memory, link = {}, {}
    for d, ls, cs in groups:
        group = f"device {d} ({t.kinds[t.chain[d]]})"
        for l, c in zip(ls, cs):
            block[l] = (b.track(f"block {problem.layers[l].name}", group, d), c, t.chain[d], d)
        if any(not t.onchip[c] for c in cs):
            memory[d] = b.track(f"device {d} memory", group, d, shared=True)
    for d, ls, _ in groups[:-1]:
        link[ls[-1]] = b.track(f"link {d} -> {d + 1}", "links", shared=True)
    outputs, last = [], [-1] * problem.n_layers  # last: per layer, the operator of the input before
    for i in range(inputs):
        prev, lag = -1, 0.0
        for l, layer in enumerate(problem.layers):
            track, c, k, d = block[l]
            prev = b.add(Job(track, float(t.time_s[k, l, c]), (i, l), "op", layer.name, i, l,
                             after=((prev, lag),) if prev >= 0 else ()))
            lag = 0.0
            if not t.onchip[c] and t.weight_bytes[l] > 0:
                b.stream(prev, memory[d], float(t.weight_bytes[l]) / problem.batch / float(t.memory_bandwidth[k]),
                         "memory", f"{layer.name} weights", last[l])
            last[l] = prev
            if l in link:
                prev = b.add(Job(link[l], float(t.boundary_bytes[l + 1]) / t.link_bandwidth, (i, l, 2), "link",
                                 f"input {i} {d} -> {d + 1}", i, l, after=((prev, 0.0),)))
                lag = t.link_latency_s
        outputs.append(prev)
    return b.layout(outputs, inputs)
